// The confirmation dialog (#confirm-dialog): every flight action and work-order transition asks first.

/** Ask ``text``; resolves true on #confirm-yes, false on #confirm-no or Escape. */
export function confirmAction(text) {
  const dialog = document.getElementById('confirm-dialog');
  document.getElementById('confirm-text').textContent = text;
  return new Promise((resolve) => {
    const yes = document.getElementById('confirm-yes');
    const no = document.getElementById('confirm-no');
    const finish = (answer) => {
      yes.removeEventListener('click', onYes);
      no.removeEventListener('click', onNo);
      dialog.removeEventListener('cancel', onNo);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const onYes = () => finish(true);
    const onNo = () => finish(false);
    yes.addEventListener('click', onYes);
    no.addEventListener('click', onNo);
    dialog.addEventListener('cancel', onNo);
    dialog.showModal();
  });
}
