// /ws/live: the token as the first message (docs/live.md), a subscription to everything the token
// sees, and a reconnect with exponential backoff (1 s doubling to 30 s, jittered) when it drops.

const BACKOFF_MIN_S = 1;
const BACKOFF_MAX_S = 30;

export class LiveLink {
  constructor({ token, subscription, onMessage, onStatus }) {
    this.token = token;
    this.subscription = subscription; // () => {drones, communities}
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.backoffS = BACKOFF_MIN_S;
    this.ws = null;
    this.timer = null;
    this.stopped = false;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
    this.ws = null;
    this.onStatus('disconnected');
  }

  /** Subscribe again (new drones or communities appeared since the socket opened). */
  resubscribe() {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && this.ready) this.sendSubscribe();
  }

  sendSubscribe() {
    const { drones, communities } = this.subscription();
    this.ws.send(JSON.stringify({ type: 'subscribe', drones, grids: [], communities }));
  }

  connect() {
    this.onStatus('connecting');
    this.ready = false;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/ws/live`);
    this.ws = ws;
    ws.addEventListener('open', () => ws.send(JSON.stringify({ type: 'auth', token: this.token })));
    ws.addEventListener('message', (event) => {
      let msg;
      try { msg = JSON.parse(event.data); } catch { return; }
      if (msg.type === 'ready') {
        this.ready = true;
        this.sendSubscribe();
      } else if (msg.type === 'subscribed') {
        this.backoffS = BACKOFF_MIN_S;
        this.onStatus('connected');
      }
      this.onMessage(msg);
    });
    ws.addEventListener('close', () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.onStatus('disconnected');
      if (this.stopped) return;
      const delayS = this.backoffS * (0.75 + Math.random() * 0.5);
      this.backoffS = Math.min(BACKOFF_MAX_S, this.backoffS * 2);
      this.timer = setTimeout(() => this.connect(), delayS * 1000);
    });
  }
}
