// The live page of `inkbench inspect serve`: draw or upload, augment, and see the run's
// prediction and one layer's feature maps follow. Plain JS, no build step, nothing fetched
// from another host. One request is in flight at a time; changes made meanwhile are sent as
// one request when it returns, so the page always ends on the newest state.
"use strict";

const DEBOUNCE_MS = 40;
// Canvas sizes: a line (OCR) or a square (classifiers), about 5 and 20 times the input.
const CANVAS = { ocr: [800, 160], cls: [320, 320] };
const $ = (id) => document.getElementById(id);

const state = {
  info: null,
  drawing: false,
  last: null,
  timer: null,
  inFlight: false,
  dirty: false,
  sent: 0,
  responses: 0,
  maps: null, // layout of the last feature-map grid
};

async function getJSON(url, options) {
  const response = await fetch(url, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function showError(message) {
  $("error").hidden = !message;
  $("error").textContent = message || "";
}

// --- the canvas --------------------------------------------------------------------------

const canvas = $("canvas");
const ctx = canvas.getContext("2d");

function resetCanvas(width, height) {
  canvas.width = width;
  canvas.height = height;
  ctx.fillStyle = "#fff"; // paper: the server reads transparency as white too
  ctx.fillRect(0, 0, width, height);
}

function point(event) {
  const rect = canvas.getBoundingClientRect();
  return [
    ((event.clientX - rect.left) * canvas.width) / rect.width,
    ((event.clientY - rect.top) * canvas.height) / rect.height,
  ];
}

function stroke(from, to) {
  ctx.strokeStyle = "#000";
  ctx.lineWidth = Number($("pen").value);
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(...from);
  ctx.lineTo(...to);
  ctx.stroke();
}

canvas.addEventListener("pointerdown", (event) => {
  state.drawing = true;
  canvas.setPointerCapture(event.pointerId);
  state.last = point(event);
  stroke(state.last, state.last); // a dot
  schedule();
});
canvas.addEventListener("pointermove", (event) => {
  if (!state.drawing) return;
  const here = point(event);
  stroke(state.last, here);
  state.last = here;
  schedule();
});
for (const name of ["pointerup", "pointercancel"]) {
  canvas.addEventListener(name, () => {
    state.drawing = false;
  });
}

async function upload(file) {
  if (file.size > state.info.max_upload) {
    showError(`${file.name}: ${file.size.toLocaleString()} bytes, more than the server's ` +
      `limit of ${state.info.max_upload.toLocaleString()}`);
    return;
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    showError(`${file.name}: not an image this browser can decode`);
    return;
  }
  const [width, height] = CANVAS[state.info.family];
  if (state.info.family === "ocr") {
    // A line keeps its aspect: the canvas takes the image's width at the canvas height.
    const wide = Math.round((height * bitmap.width) / bitmap.height);
    resetCanvas(Math.min(Math.max(wide, height), 2400), height);
  } else {
    resetCanvas(width, height);
  }
  const scale = Math.min(canvas.width / bitmap.width, canvas.height / bitmap.height);
  const w = bitmap.width * scale;
  const h = bitmap.height * scale;
  ctx.drawImage(bitmap, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
  schedule();
}

// --- requests ----------------------------------------------------------------------------

function params() {
  const query = new URLSearchParams({
    layer: $("layer").value,
    channel: $("channel").value || "0",
    invert: $("invert").checked ? "1" : "0",
    seed: $("seed").value || "0",
  });
  for (const slider of state.info.sliders) query.set(slider.name, $(`s-${slider.name}`).value);
  return query;
}

// body[data-idle] says whether the page shows the newest state (read by tests and scripts).
function setIdle(idle) {
  document.body.dataset.idle = String(idle);
}

function schedule() {
  state.dirty = true;
  setIdle(false);
  clearTimeout(state.timer);
  state.timer = setTimeout(send, DEBOUNCE_MS);
}

async function send() {
  if (state.inFlight) return; // sent when the request in flight returns
  state.inFlight = true;
  state.dirty = false;
  state.sent += 1;
  try {
    const body = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    const started = performance.now();
    const answer = await getJSON(`/api/predict?${params()}`, {
      method: "POST",
      headers: { "Content-Type": "image/png" },
      body,
    });
    show(answer, performance.now() - started);
    showError("");
  } catch (error) {
    showError(error.message);
  } finally {
    state.inFlight = false;
    if (state.dirty) send();
    else setIdle(true);
  }
}

// --- answers -----------------------------------------------------------------------------

function scaled(img, src, width, height) {
  img.onload = () => {
    // Whole-number zoom, pixelated: each pixel of the network stays one square.
    const fits = Math.min(width / img.naturalWidth, height / img.naturalHeight);
    const zoom = Math.max(1, Math.floor(fits));
    img.style.width = `${img.naturalWidth * zoom}px`;
  };
  img.src = src;
}

function show(answer, ms) {
  const prediction = $("prediction");
  prediction.replaceChildren();
  if ("text" in answer.prediction) {
    const text = document.createElement("div");
    text.className = "text";
    text.id = "text";
    text.textContent = answer.prediction.text || "(nothing read)";
    prediction.append(text);
  } else {
    for (const { name, probability } of answer.prediction.classes) {
      const row = document.createElement("div");
      row.className = "bar";
      const label = document.createElement("span");
      label.textContent = name;
      const bar = document.createElement("span");
      bar.style.width = `${(100 * probability).toFixed(1)}%`;
      const value = document.createElement("span");
      value.textContent = `${(100 * probability).toFixed(1)} %`;
      row.append(label, bar, value);
      prediction.append(row);
    }
  }
  $("note").hidden = !answer.note;
  $("note").textContent = answer.note || "";
  const width = $("output-panel").clientWidth - 40;
  scaled($("network-input"), answer.image, width, 200);
  scaled($("maps"), answer.maps.png, width, 420);
  scaled($("channel-map"), answer.channel.png, width, 200);
  state.maps = answer.maps;
  $("channel").max = answer.maps.channels - 1;
  $("channel-max").textContent =
    `of ${answer.maps.channels}: ${answer.maps.size.join(" x ")}, max ${answer.channel.max.toFixed(4)}`;
  state.responses += 1;
  document.body.dataset.responses = String(state.responses);
  $("status").textContent = `round trip ${Math.round(ms)} ms`;
}

async function loadTop() {
  const top = $("top");
  try {
    const found = await getJSON(`/api/top?layer=${encodeURIComponent($("layer").value)}` +
      `&channel=${$("channel").value || 0}`);
    top.replaceChildren();
    if (found.found) {
      const img = document.createElement("img");
      img.alt = `top patches of channel ${$("channel").value}`;
      img.src = found.url;
      const caption = document.createElement("p");
      caption.textContent = `${found.hits.length} top images of the ${found.split} split ` +
        `(patch: the receptive field; values: the channel's activation)`;
      top.append(caption, img);
    } else {
      const message = document.createElement("p");
      message.textContent = found.message;
      top.append(message);
    }
  } catch (error) {
    top.textContent = error.message;
  }
}

$("maps").addEventListener("click", (event) => {
  const layout = state.maps;
  if (!layout) return;
  const img = $("maps");
  const x = (event.offsetX * img.naturalWidth) / img.clientWidth;
  const y = (event.offsetY * img.naturalHeight) / img.clientHeight;
  const [h, w] = layout.size;
  const column = Math.floor(x / (w + layout.gap));
  const row = Math.floor(y / (h + layout.gap));
  const channel = row * layout.columns + column;
  if (column < layout.columns && channel < layout.channels) {
    $("channel").value = channel;
    schedule();
    loadTop();
  }
});

// --- controls ----------------------------------------------------------------------------

function buildSliders(sliders) {
  const box = $("sliders");
  for (const slider of sliders) {
    const label = document.createElement("label");
    label.title = slider.help;
    const input = document.createElement("input");
    Object.assign(input, {
      type: "range", id: `s-${slider.name}`, min: slider.low, max: slider.high,
      step: slider.step, value: 0,
    });
    const output = document.createElement("output");
    output.id = `o-${slider.name}`;
    output.textContent = "0";
    input.addEventListener("input", () => {
      output.textContent = input.value;
      schedule();
    });
    label.append(slider.name, input, output);
    box.append(label);
  }
}

async function start() {
  const info = await getJSON("/api/info");
  state.info = info;
  $("run").textContent = `${info.run} (${info.family === "ocr" ? "line recognizer" : "classifier"}, ` +
    `input ${info.input.join(" x ")})`;
  document.title = `${info.run}: inkbench inspect serve`;
  const [width, height] = CANVAS[info.family];
  resetCanvas(width, height);
  if (info.family === "ocr") $("reads").textContent = "(the prepared line, ink bright)";
  $("pen").value = Math.round(height / 12);
  $("pen-out").textContent = $("pen").value;
  buildSliders(info.sliders);
  for (const layer of info.layers) $("layer").append(new Option(layer, layer, false, layer === info.layer));

  $("pen").addEventListener("input", () => { $("pen-out").textContent = $("pen").value; });
  $("clear").addEventListener("click", () => { resetCanvas(width, height); schedule(); });
  $("upload").addEventListener("change", (event) => {
    if (event.target.files.length) upload(event.target.files[0]);
    event.target.value = ""; // the same file again is a change too
  });
  $("layer").addEventListener("change", () => { $("channel").value = 0; schedule(); loadTop(); });
  $("channel").addEventListener("change", () => { schedule(); loadTop(); });
  for (const id of ["invert", "seed"]) $(id).addEventListener("change", schedule);
  $("reseed").addEventListener("click", () => {
    $("seed").value = Math.floor(Math.random() * 2147483647);
    schedule();
  });
  $("reset").addEventListener("click", () => {
    for (const slider of info.sliders) {
      $(`s-${slider.name}`).value = 0;
      $(`o-${slider.name}`).textContent = "0";
    }
    schedule();
  });
  schedule();
  loadTop();
}

start().catch((error) => showError(`cannot start: ${error.message}`));
