// The kiosk page: shows the screen the terminal sends and sends the patient's taps back.
// The flow itself lives on the terminal (crates/onshi-terminal/src/kiosk.rs).
"use strict";

const app = document.getElementById("app");
let session = null;
let timer = null;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "onclick") e.addEventListener("click", v);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(typeof c === "string" || typeof c === "number" ? String(c) : c);
  }
  return e;
}

function show(name, ...children) {
  if (timer) { clearTimeout(timer); timer = null; }
  const s = el("section", { id: "screen", "data-screen": name }, ...children);
  app.replaceChildren(s);
  return s;
}

async function post(url, body) {
  const r = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  return r.json();
}

function busy(text) {
  show("working", el("p", { class: "lead" }, text || "処理中です。カードを取り出さずにお待ちください…"));
}

async function send(action) {
  if (!session) return start();
  busy();
  try {
    const reply = await post("/kiosk/api/session/" + encodeURIComponent(session), action);
    session = reply.session;
    render(reply.screen);
  } catch (e) {
    render({ screen: "error", code: "011", title: "ネットワークエラー",
      message: "資格確認端末と通信できませんでした。", action: "受付窓口までお越しください。",
      retry: false });
  }
}

async function place(id) {
  busy("カードを読み取っています…");
  try {
    const reply = await post("/kiosk/api/session", { card: id });
    session = reply.session;
    render(reply.screen);
  } catch (e) {
    render({ screen: "error", code: "101", title: "マイナンバーカードの読み取りに失敗しました",
      message: "カードを読み取れませんでした。", action: "もう一度置いてください。", retry: false });
  }
}

async function finish() {
  if (session) {
    try { await post("/kiosk/api/session/" + encodeURIComponent(session) + "/end"); } catch (e) { /* gone anyway */ }
  }
  session = null;
  start();
}

const MEDIUM = {
  card: ["💳", "マイナンバーカード"],
  android: ["📱", "Androidスマートフォン"],
  iphone: ["📱", "iPhone"],
};

async function start() {
  session = null;
  let items = [];
  try { items = await (await fetch("/kiosk/api/wallet")).json(); } catch (e) { items = []; }
  show("place",
    el("h1", {}, "マイナンバーカードを置いてください"),
    el("p", { class: "note" }, "スマートフォンをお使いの方は、スマートフォンをかざしてください。"),
    el("div", { class: "slot" }, "カード置き場"),
    el("p", { class: "note" }, "デモ用ウォレット：置くカード（またはかざすスマートフォン）をタップしてください"),
    el("div", { class: "wallet" }, items.map((it) => el("button", {
      class: "wallet-item " + it.medium, "data-card": it.id, "data-medium": it.medium,
      onclick: () => place(it.id),
    }, el("span", { class: "icon" }, (MEDIUM[it.medium] || MEDIUM.card)[0]),
       el("span", {}, it.label),
       el("span", { class: "note" }, (MEDIUM[it.medium] || MEDIUM.card)[1])))),
    items.length ? null : el("p", { class: "warn" }, "ウォレットにカードがありません"));
}

function render(s) {
  switch (s.screen) {
    case "method": return method(s);
    case "pin": return pin(s);
    case "face": return face(s);
    case "iphone": return iphone(s);
    case "visual": return visual(s);
    case "register": return register(s);
    case "consent": return consent(s);
    case "done": return done(s);
    case "declaration": return declaration(s);
    case "offline": return offline(s);
    case "error": return error(s);
    default: return start();
  }
}

function method() {
  show("method",
    el("h1", {}, "本人確認の方法を選んでください。"),
    el("div", { class: "buttons" },
      el("button", { id: "method-face", class: "big", onclick: () => send({ action: "method", method: "face" }) }, "顔認証を行う"),
      el("button", { id: "method-pin", class: "big", onclick: () => send({ action: "method", method: "pin" }) }, "暗証番号を入力"),
      el("button", { id: "end", class: "big quiet", onclick: finish }, "終了する")),
    el("p", { class: "note" }, "本人確認の情報は、他の目的には使用しません。"));
}

function pin(s) {
  let digits = "";
  const display = el("div", { id: "pin-display", class: "pin-display" }, "");
  const update = () => { display.textContent = "●".repeat(digits.length); };
  const key = (d) => el("button", { class: "pin-key", "data-digit": d,
    onclick: () => { if (digits.length < 4) { digits += d; update(); } } }, d);
  const title = s.medium === "android"
    ? "スマートフォン用電子証明書の暗証番号（数字4桁）を入力してください。"
    : "暗証番号（数字4桁）を入力してください。";
  show("pin",
    el("h1", {}, s.registering ? "利用登録のため、暗証番号を入力してください。" : title),
    s.message ? el("p", { id: "pin-message", class: "warn" }, s.message) : null,
    el("p", { id: "pin-tries", class: "tries", "data-tries": s.tries_left }, "残り試行回数：" + s.tries_left + "回"),
    display,
    el("div", { class: "pad" },
      ["1", "2", "3", "4", "5", "6", "7", "8", "9"].map(key),
      el("button", { id: "pin-clear", class: "pin-key fn", onclick: () => { digits = ""; update(); } }, "訂正"),
      key("0"),
      el("button", { id: "pin-ok", class: "pin-key fn ok", onclick: () => send({ action: "pin", pin: digits }) }, "確定")),
    el("div", { class: "buttons" }, el("button", { id: "end", class: "big quiet", onclick: finish }, "終了する")),
    el("p", { class: "note" }, "暗証番号を3回続けて間違えるとロックされます。"));
}

function face() {
  show("face",
    el("h1", {}, "顔認証を行います"),
    el("p", { class: "lead" }, "枠の中に顔を合わせて、そのままお待ちください。"),
    el("div", { class: "camera", id: "camera" }),
    el("p", { class: "note" }, "マスク・帽子・色の濃いメガネは外してください。"),
    el("div", { class: "buttons" }, el("button", { id: "face-capture", class: "big quiet", onclick: () => send({ action: "face" }) }, "撮影する")));
  // The emulated camera takes the picture by itself after a moment.
  timer = setTimeout(() => send({ action: "face" }), 1200);
}

function iphone() {
  show("iphone",
    el("h1", {}, "iPhoneで本人確認をしてください"),
    el("p", { class: "lead" }, "iPhoneの画面の案内に従い、Face ID（またはTouch ID）で認証してください。"),
    el("div", { class: "buttons" },
      el("button", { id: "iphone-auth", class: "big", onclick: () => send({ action: "face" }) }, "iPhoneで認証する"),
      el("button", { id: "end", class: "big quiet", onclick: finish }, "終了する")));
}

function visual() {
  show("visual",
    el("h1", {}, "職員が本人確認を行います"),
    el("p", { class: "lead" }, "目視確認モードです。そのままお待ちください。"),
    el("p", { class: "note" }, "職員の方：カードの顔写真とご本人を目視で確認し、下のボタンを押してください。"),
    el("div", { class: "buttons" },
      el("button", { id: "visual-confirm", class: "big", onclick: () => send({ action: "face" }) }, "本人を確認しました（職員用）"),
      el("button", { id: "end", class: "big quiet", onclick: finish }, "終了する")));
}

function register() {
  show("register",
    el("h1", {}, "健康保険証としての利用登録"),
    el("p", { class: "lead" }, "このマイナンバーカードは、健康保険証としての利用登録がされていません。"),
    el("p", { class: "lead" }, "今、利用登録を行いますか。"),
    el("p", { class: "note" }, "登録には利用者証明用電子証明書の暗証番号（数字4桁）が必要です。"),
    el("div", { class: "buttons row" },
      el("button", { id: "register-yes", class: "big yes", onclick: () => send({ action: "register", answer: true }) }, "登録する"),
      el("button", { id: "register-no", class: "big no", onclick: () => send({ action: "register", answer: false }) }, "登録しない")));
}

function consent(s) {
  show("consent",
    el("p", { class: "progress" }, "同意の確認（" + s.index + " / " + s.total + "）"),
    el("h2", { id: "consent-title", "data-kind": s.kind }, s.title),
    el("p", { class: "lead", id: "consent-question" }, s.question),
    el("p", { class: "note" }, s.note),
    el("div", { class: "buttons row" },
      el("button", { id: "consent-yes", class: "big yes", onclick: () => send({ action: "consent", answer: true }) }, s.yes),
      el("button", { id: "consent-no", class: "big no", onclick: () => send({ action: "consent", answer: false }) }, s.no)));
}

function done(s) {
  session = null;
  show("done",
    el("p", { id: "done-name", class: "name" }, s.name ? s.name + " 様" : ""),
    el("h1", { id: "done-title" }, s.valid ? "確認が完了しました。" : "確認が終わりました。"),
    el("p", { id: "done-message", class: "lead" }, s.message),
    s.alert ? el("div", { id: s.grace ? "done-grace" : "done-alert", class: "alert" + (s.grace ? " grace" : "") }, s.alert) : null,
    s.grace ? el("p", { class: "note" }, "電子証明書の有効期限切れのため、今回はお薬情報等の提供の同意はできません。") : null,
    el("p", { class: "note" }, "高額療養費制度を利用する方は、受付窓口にお申し出ください。"),
    el("p", { class: "note" }, el("a", { id: "done-patient", href: "/patient" }, "ご自身のお薬・健診の情報と閲覧履歴を見る")),
    el("div", { class: "buttons" }, el("button", { id: "done-end", class: "big", onclick: finish }, "終了")));
  timer = setTimeout(start, 30000);
}

// システム障害時モード, a patient the terminal does not know: the 被保険者資格申立書 items.
function declaration() {
  const field = (id, label, attrs) => el("label", { class: "field" },
    el("span", {}, label), el("input", Object.assign({ id: id, name: id }, attrs || {})));
  const value = (id) => document.getElementById(id).value;
  show("declaration",
    el("h1", {}, "被保険者資格申立書"),
    el("p", { class: "lead" }, "システム障害のため、資格情報を確認できません。ご本人の情報を入力してください。"),
    el("form", { id: "declaration-form", class: "form" },
      field("decl-name", "氏名", { required: true }),
      field("decl-kana", "フリガナ"),
      field("decl-birthdate", "生年月日（例 19800401）", { inputmode: "numeric", maxlength: 8, required: true }),
      el("label", { class: "field" }, el("span", {}, "性別"),
        el("select", { id: "decl-sex" }, el("option", { value: "1" }, "男"), el("option", { value: "2" }, "女"))),
      field("decl-address", "住所"),
      field("decl-insurer", "保険者名または保険者番号（わかる範囲で）"),
      field("decl-numbers", "記号・番号（わかる範囲で）")),
    el("div", { class: "buttons" },
      el("button", { id: "declare-submit", class: "big yes", onclick: () => send({
        action: "declare", name: value("decl-name"), kana: value("decl-kana"),
        birthdate: value("decl-birthdate"), sex: value("decl-sex"), address: value("decl-address"),
        insurer: value("decl-insurer"), card_numbers: value("decl-numbers"),
      }) }, "申し立てる")));
}

function offline(s) {
  session = null;
  show("offline",
    el("p", { class: "error-code" }, "システム障害時モード"),
    el("p", { id: "offline-name", class: "name" }, s.name ? s.name + " 様" : ""),
    el("h1", { id: "offline-title" }, "受付しました。"),
    el("p", { id: "offline-message", class: "lead" }, s.message),
    el("p", { class: "note" }, s.known
      ? "前回確認時の資格情報で受付しています。受付窓口で保険証等の確認をお願いする場合があります。"
      : "受付窓口にお声がけください。"),
    el("div", { class: "buttons" }, el("button", { id: "offline-end", class: "big", onclick: finish }, "終了")));
  timer = setTimeout(start, 30000);
}

function error(s) {
  const sec = show("error",
    el("p", { id: "error-code", class: "error-code" }, "【" + s.code + "】"),
    el("h1", { id: "error-title" }, s.title),
    el("p", { id: "error-message", class: "lead" }, s.message),
    el("p", { id: "error-action", class: "note" }, s.action));
  if (s.retry && session) {
    let left = s.retry_seconds || 5;
    const count = el("p", { id: "retry-count", class: "note" }, left + "秒後に自動的に再接続します");
    sec.append(count, el("div", { class: "buttons" },
      s.offline ? el("button", { id: "offline-accept", class: "big", onclick: () => send({ action: "offline" }) }, "システム障害時モードで受付する") : null,
      el("button", { id: "end", class: "big quiet", onclick: finish }, "終了する")));
    const tick = () => {
      left -= 1;
      if (left <= 0) { send({ action: "retry" }); return; }
      count.textContent = left + "秒後に自動的に再接続します";
      timer = setTimeout(tick, 1000);
    };
    timer = setTimeout(tick, 1000);
  } else {
    session = null;
    sec.append(el("div", { class: "buttons" }, el("button", { id: "error-end", class: "big", onclick: finish }, "最初に戻る")));
  }
}

start();
