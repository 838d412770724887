// The chat playground: multi-turn, streamed answers, and a side-by-side mode against the base model.
// The page's own session-authenticated endpoint relays to the gateway; no API key ever reaches the browser.
(function () {
  "use strict";
  var root = document.getElementById("playground");
  if (!root) return;
  var url = root.dataset.url;
  var csrf = root.dataset.csrf;
  var form = document.getElementById("pg-form");
  var input = document.getElementById("pg-input");
  var sendButton = document.getElementById("pg-send");
  var stopButton = document.getElementById("pg-stop");
  var compare = document.getElementById("pg-compare");
  var history = { tuned: [], base: [] };
  var controllers = [];

  function column(target) {
    return root.querySelector('.pg-column[data-target="' + target + '"]');
  }

  function targets() {
    return compare && compare.checked ? ["base", "tuned"] : ["tuned"];
  }

  function bind(rangeId) {
    var range = document.getElementById(rangeId);
    var out = document.getElementById(rangeId + "-value");
    range.addEventListener("input", function () { out.textContent = range.value; });
  }
  bind("pg-temperature");
  bind("pg-top-p");

  function bubble(target, role, text) {
    var log = column(target).querySelector(".pg-log");
    var empty = log.querySelector(".pg-empty");
    if (empty) empty.remove();
    var el = document.createElement("div");
    el.className = "pg-msg pg-" + role;
    var who = document.createElement("span");
    who.className = "pg-role";
    who.textContent = role === "user" ? "You" : "Model";
    var body = document.createElement("div");
    body.className = "pg-text";
    body.textContent = text || "";
    el.appendChild(who);
    el.appendChild(body);
    log.appendChild(el);
    log.scrollTop = log.scrollHeight;
    return el;
  }

  function reset() {
    controllers.forEach(function (c) { c.abort(); });
    history = { tuned: [], base: [] };
    root.querySelectorAll(".pg-log").forEach(function (log) { log.textContent = ""; });
  }

  function settings() {
    var values = {
      temperature: parseFloat(document.getElementById("pg-temperature").value),
      top_p: parseFloat(document.getElementById("pg-top-p").value),
      max_tokens: parseInt(document.getElementById("pg-max-tokens").value, 10) || 128,
    };
    var tools = document.getElementById("pg-tools").value.trim();
    // Sent as written: text that is not JSON reaches the server, which answers with what is wrong.
    if (tools) { try { values.tools = JSON.parse(tools); } catch (e) { values.tools = tools; } }
    return values;
  }

  function messagesFor(target) {
    var system = document.getElementById("pg-system").value.trim();
    var list = system ? [{ role: "system", content: system }] : [];
    return list.concat(history[target]);
  }

  // Reads server-sent events: each "data: {...}" line is one chunk of the answer.
  async function stream(target, el, controller) {
    var body = Object.assign({ target: target, messages: messagesFor(target) }, settings());
    var text = el.querySelector(".pg-text");
    var answer = "";
    var response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body),
      signal: controller.signal,
      credentials: "same-origin",
    });
    if (!response.ok) {
      var problem = await response.json().catch(function () { return {}; });
      throw new Error((problem.error && problem.error.message) || "HTTP " + response.status);
    }
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    for (;;) {
      var part = await reader.read();
      if (part.done) break;
      buffer += decoder.decode(part.value, { stream: true });
      var events = buffer.split("\n\n");
      buffer = events.pop();
      events.forEach(function (event) {
        event.split("\n").forEach(function (line) {
          if (line.indexOf("data: ") !== 0) return;
          var data = line.slice(6);
          if (data === "[DONE]") return;
          var chunk = JSON.parse(data);
          if (chunk.error) throw new Error(chunk.error.message || "The engine failed.");
          var choice = chunk.choices && chunk.choices[0];
          if (choice && choice.delta && choice.delta.content) {
            answer += choice.delta.content;
            text.textContent = answer;
          }
          if (chunk.usage) {
            el.dataset.usage = chunk.usage.prompt_tokens + " + " + chunk.usage.completion_tokens + " tokens";
          }
        });
      });
      el.parentNode.scrollTop = el.parentNode.scrollHeight;
    }
    return answer;
  }

  async function ask(target, prompt) {
    history[target].push({ role: "user", content: prompt });
    bubble(target, "user", prompt);
    var el = bubble(target, "assistant", "");
    el.classList.add("pg-streaming");
    var controller = new AbortController();
    controllers.push(controller);
    try {
      var answer = await stream(target, el, controller);
      history[target].push({ role: "assistant", content: answer });
    } catch (err) {
      history[target].pop();  // the question goes unanswered: ask it again later
      el.classList.add("pg-error");
      el.querySelector(".pg-text").textContent = err.name === "AbortError" ? "(stopped)" : err.message;
    } finally {
      el.classList.remove("pg-streaming");
      el.dataset.done = "true";
    }
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    var prompt = input.value.trim();
    if (!prompt) return;
    input.value = "";
    sendButton.disabled = true;
    stopButton.hidden = false;
    controllers = [];
    await Promise.all(targets().map(function (t) { return ask(t, prompt); }));
    sendButton.disabled = false;
    stopButton.hidden = true;
    input.focus();
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  stopButton.addEventListener("click", function () { controllers.forEach(function (c) { c.abort(); }); });
  document.getElementById("pg-clear").addEventListener("click", reset);
  if (compare) {
    compare.addEventListener("change", function () {
      // Each side keeps its own conversation, so a comparison starts from a clean slate.
      reset();
      column("base").hidden = !compare.checked;
      root.querySelector(".pg-columns").classList.toggle("pg-two", compare.checked);
    });
  }
})();
