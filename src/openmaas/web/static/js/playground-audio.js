// Playground audio tab: text → speech (WAV, played in the page), and an uploaded recording →
// its transcript. Without an engine for either, the API's answer says so in words.
import { $, api, el, errorFrom, headersFor, t } from "./api.js";
import { prepare, runTool } from "./playground-kit.js";

async function speak(body) {
  const response = await fetch("/console/api/audio/speech", {
    method: "POST", credentials: "same-origin", body: JSON.stringify(body),
    headers: headersFor("POST", { "Content-Type": "application/json" }) });
  if (!response.ok) throw await errorFrom(response);
  return { audio: await response.blob(), seconds: Number(response.headers.get("X-Audio-Seconds") || 0) };
}

function mountSpeech(panel, models, wanted) {
  const form = $("#speech-form", panel);
  prepare(panel, form, "speech", models, wanted, "#speech-unavailable");
  let url = "";
  runTool(form, $("#speech-state", panel), async (data) => {
    const { audio, seconds } = await speak({ model: data.get("model"), input: data.get("input"), response_format: "wav" });
    if (url) URL.revokeObjectURL(url);
    url = URL.createObjectURL(audio);
    $("#speech-result", panel).replaceChildren(
      el("audio", { controls: true, src: url, "data-testid": "speech-audio" }),
      el("a", { class: "btn small", href: url, download: "speech.wav", text: t("playground.speech_download") }));
    return t("playground.speech_done", { seconds: seconds.toFixed(1) });
  });
}

function mountTranscription(panel, models, wanted) {
  const form = $("#transcription-form", panel);
  prepare(panel, form, "transcription", models, wanted, "#transcription-unavailable");
  runTool(form, $("#transcription-state", panel), async (data) => {
    const result = await api("POST", "/console/api/audio/transcriptions", data);
    $("#transcription-text", panel).textContent = result.text;
    return t("playground.transcribe_done");
  });
}

export function mount(panel, models, wanted) {
  mountSpeech(panel, models, wanted);
  mountTranscription(panel, models, wanted);
}
