// Account settings: profile, tier and limits; change the password (then sign in again); a new
// email or phone confirmed by a code; sign out other sessions; keep request bodies (opt-in).
import { $, api, fmtInt, onSubmit, showError, t, toast } from "./api.js";

async function load() {
  const s = await api("GET", "/console/api/account/settings");
  $("#acct-name").textContent = s.name;
  $("#acct-email").textContent = s.email || "—";
  $("#acct-phone").textContent = s.phone || "—";
  $("#acct-tier").textContent = s.tier;
  if (!s.limits.enabled) {
    $("#limits").replaceChildren(document.createTextNode(t("account.limits_off")));
  } else {
    $("#limit-concurrency").textContent = fmtInt(s.limits.concurrency);
    $("#limit-rpm").textContent = fmtInt(s.limits.rpm_per_key);
    $("#limit-tpm").textContent = fmtInt(s.limits.tpm_per_key);
  }
  $("#sessions-count").textContent = t("account.sessions_count", { n: fmtInt(s.sessions) });
  $("#sign-out-others").disabled = s.sessions <= 1;
  const bodies = $("#bodies-form").elements;
  bodies.store_bodies.checked = s.bodies.store_bodies;
  bodies.body_retention_days.value = s.bodies.body_retention_days;
  const tiers = Object.entries(s.tiers).map(([tier, n]) => `${tier} ${fmtInt(n)}`).join(" · ");
  $("#tiers-hint").textContent = tiers ? t("account.tiers_hint", { tiers }) : "";
}

onSubmit($("#password-form"), async (data, form) => {
  await api("POST", "/console/api/account/password",
    { old_password: data.get("old_password"), new_password: data.get("new_password") });
  form.reset();
  toast(t("account.changed"));
  setTimeout(() => location.assign("/console/login"), 1500);
});

const contact = $("#contact-form");
$("#contact-send").addEventListener("click", async (event) => {
  const target = contact.elements.target.value.trim();
  if (!target) {
    contact.elements.target.reportValidity();
    return;
  }
  event.target.disabled = true;
  try {
    await api("POST", "/console/api/account/contact/code", { channel: contact.elements.channel.value, target });
    toast(t("account.code_sent", { target }));
    contact.elements.code.focus();
  } catch (error) {
    showError(error);
  } finally {
    setTimeout(() => { event.target.disabled = false; }, 3000);
  }
});
onSubmit(contact, async (data, form) => {
  await api("POST", "/console/api/account/contact",
    { channel: data.get("channel"), target: data.get("target").trim(), code: data.get("code").trim() });
  form.reset();
  toast(t("account.contact_changed"));
  await load();
});

$("#sign-out-others").addEventListener("click", async () => {
  try {
    const done = await api("POST", "/console/api/account/sessions/sign-out-others");
    toast(t("account.signed_out_others", { n: fmtInt(done.signed_out) }));
    await load();
  } catch (error) {
    showError(error);
  }
});

onSubmit($("#bodies-form"), async (data) => {
  const store = data.get("store_bodies") === "on";
  if (!store && !confirm(t("account.bodies_off_confirm"))) return;
  await api("PUT", "/console/api/account/bodies",
    { store_bodies: store, body_retention_days: Number(data.get("body_retention_days")) });
  toast(t("common.saved"));
  await load();
});

load().catch(showError);
