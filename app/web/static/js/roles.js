// What each role may do, as docs/api.md's role table says; the page hides what a role cannot use and
// the service enforces it anyway.

const FLIGHT_ROLES = new Set(['operator', 'tester', 'admin']);

/** Run controls, drone commands: operators (any drone), testers (simulated drones), admins. */
export const canFly = (role) => FLIGHT_ROLES.has(role);
/** Acknowledging alerts. */
export const canAck = (role) => FLIGHT_ROLES.has(role);
/** Work-order transitions. */
export const canTransition = (role) => FLIGHT_ROLES.has(role);

/** The work-order state machine (docs/workorders.md): the actions each state accepts. */
export const TRANSITIONS = {
  open: ['assign', 'cancel'],
  assigned: ['assign', 'start', 'cancel'],
  reopened: ['assign', 'start', 'cancel'],
  in_progress: ['resolve', 'cancel'],
  resolved: ['close', 'reopen'],
  closed: [],
  cancelled: [],
};

export const ACTIVE_WORKORDER_STATES = new Set(['open', 'assigned', 'in_progress', 'reopened', 'resolved']);
export const ACTIVE_RUN_STATES = new Set(['dispatching', 'uploading', 'ready', 'running', 'paused', 'returning', 'landed', 'waiting']);
