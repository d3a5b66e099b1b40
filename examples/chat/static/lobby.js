"use strict";
// Fills the name field with the name used last time.
(() => {
  const input = document.getElementById("name");
  if (!input || input.value) return;
  try {
    input.value = localStorage.getItem("chat.name") || "";
  } catch (e) {
    // storage disabled: nothing to fill in
  }
})();
