// A stand-in for Telegram's telegram-web-app.js, as it behaves inside Telegram: it gives
// initData, takes ready() and expand(), has a back button, and asks confirmations itself
// (showConfirm). What the page asked of it is kept in window.telegramCalls.
window.telegramCalls = [];
window.telegramAnswers = [];
window.Telegram = {
  WebApp: {
    initData: INIT_DATA,
    ready: () => window.telegramCalls.push("ready"),
    expand: () => window.telegramCalls.push("expand"),
    isVersionAtLeast: (version) => parseFloat(version) <= 8.0,
    showConfirm(message, callback) {
      window.telegramCalls.push(`confirm: ${message}`);
      setTimeout(() => callback(window.telegramAnswers.shift() ?? false), 0);
    },
    BackButton: {
      isVisible: false,
      show() {
        this.isVisible = true;
      },
      hide() {
        this.isVisible = false;
      },
      onClick(handler) {
        this.handler = handler;
      },
      offClick() {
        this.handler = null;
      },
    },
  },
};
