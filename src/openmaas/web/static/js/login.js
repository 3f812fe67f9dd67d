// Sign in / sign up with a verification code; on success the session cookies are set by the API.
// A forgotten password is reset with a code sent to the account's email or phone.
import { $, api, el, errorSmallPrint, humanError, onSubmit, setupTabs, t } from "./api.js";

const errorBox = $("#auth-error");
const signup = $("#signup-form");

function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "";
  return next.startsWith("/console/") && !next.startsWith("//") ? next : "/console/overview";
}

function fail(error) {
  const small = errorSmallPrint(error);  // the sentence in the UI language; the code in small print
  errorBox.replaceChildren(el("span", { text: humanError(error) }), ...(small ? [el("small", { class: "code", text: small })] : []));
  errorBox.hidden = false;
}

async function signIn(login, password) {
  await api("POST", "/api/platform/auth/login", { login, password });
  location.assign(nextPage());
}

function guarded(handler) {
  return async (data, form) => {
    errorBox.hidden = true;
    try {
      await handler(data, form);
    } catch (error) {
      fail(error);
    }
  };
}

setupTabs(document, () => { errorBox.hidden = true; });

onSubmit($("#signin-form"), guarded((data) => signIn(data.get("login").trim(), data.get("password"))));

signup.addEventListener("change", (event) => {
  if (event.target.name !== "channel") return;
  const phone = event.target.value === "phone";
  $("#target-label").textContent = t(phone ? "login.phone" : "login.email");
  signup.elements.target.autocomplete = phone ? "tel" : "email";
});

function cooldown(button, seconds) {
  button.disabled = true;
  const tick = () => {
    if (seconds <= 0) {
      button.disabled = false;
      button.textContent = t("login.send_code");
      return;
    }
    button.textContent = t("login.resend_in", { seconds });
    seconds -= 1;
    setTimeout(tick, 1000);
  };
  tick();
}

$("#send-code").addEventListener("click", async (event) => {
  errorBox.hidden = true;
  const channel = signup.elements.channel.value;
  const target = signup.elements.target.value.trim();
  if (!target) {
    signup.elements.target.reportValidity();
    return;
  }
  try {
    const sent = await api("POST", "/api/platform/auth/codes", { channel, target });
    errorBox.hidden = true;
    $("#auth-error").hidden = true;
    cooldown(event.target, 60);
    signup.elements.code.focus();
    signup.dataset.sent = String(sent.expires_in);
  } catch (error) {
    fail(error);
  }
});

onSubmit(signup, guarded(async (data) => {
  const channel = data.get("channel");
  const target = data.get("target").trim();
  await api("POST", "/api/platform/auth/register", {
    [channel]: target, code: data.get("code").trim(), password: data.get("password"), name: data.get("name").trim(),
  });
  await signIn(target, data.get("password"));
}));

// --- forgotten password ------------------------------------------------------------------------
const reset = $("#reset-form");
const note = $("#auth-note");
const channelOf = (target) => (target.includes("@") ? "email" : "phone");

function showReset(open) {
  reset.hidden = !open;
  $("#signin-form").hidden = open;
  $(".auth-card [role=tablist]").hidden = open;
  errorBox.hidden = true;
  if (open) reset.elements.target.value = $("#signin-form").elements.login.value;
}
$("#forgot-link").addEventListener("click", () => { note.hidden = true; showReset(true); });
$("#reset-back").addEventListener("click", () => showReset(false));

$("#reset-send").addEventListener("click", async (event) => {
  errorBox.hidden = true;
  const target = reset.elements.target.value.trim();
  if (!target) {
    reset.elements.target.reportValidity();
    return;
  }
  try {
    await api("POST", "/api/platform/auth/password/codes", { channel: channelOf(target), target });
    note.textContent = t("login.reset_sent");
    note.hidden = false;
    cooldown(event.target, 60);
    reset.elements.code.focus();
  } catch (error) {
    fail(error);
  }
});

onSubmit(reset, guarded(async (data, form) => {
  const target = data.get("target").trim();
  await api("POST", "/api/platform/auth/password/reset",
    { channel: channelOf(target), target, code: data.get("code").trim(), new_password: data.get("new_password") });
  form.reset();
  showReset(false);
  $("#signin-form").elements.login.value = target;
  note.textContent = t("login.reset_done");
  note.hidden = false;
}));
