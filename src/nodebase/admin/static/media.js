// Media: browse, upload with a progress bar, preview, delete.
import {call, get, upload} from "./api.js";
import {t} from "./i18n.js";
import {h, clear, errorOf, section} from "./dom.js";

const IMAGE = /\.(png|jpe?g|gif|webp|svg|avif)$/i;

export async function mediaView(main) {
  const previewBox = h("div", {id: "media-preview"});
  const msg = h("p", {id: "media-error", class: "error"});
  const input = h("input", {id: "upload-input", type: "file"});
  const bar = h("progress", {id: "upload-progress", max: 1, value: 0});
  const percent = h("span", {id: "upload-percent"}, "");
  const send = async (file) => {
    msg.textContent = "";
    try {
      await upload(`/api/media/upload/${encodeURIComponent(file.name)}`, file, (p) => {
        bar.value = p; percent.textContent = `${Math.round(p * 100)}%`;
        bar.dataset.steps = String(Number(bar.dataset.steps || 0) + 1);
      });
      await loadFiles();
    } catch (e) { msg.textContent = errorOf(e); }
  };
  const drop = h("div", {id: "dropzone", class: "dropzone",
    ondragover: (e) => { e.preventDefault(); drop.classList.add("over"); },
    ondragleave: () => drop.classList.remove("over"),
    ondrop: (e) => { e.preventDefault(); drop.classList.remove("over"); for (const f of e.dataTransfer.files) send(f); }},
    input, h("button", {id: "upload-start", class: "primary", onclick: () => { if (input.files[0]) send(input.files[0]); }}, t("upload")),
    bar, percent);
  const preview = (name) => {
    clear(previewBox);
    const url = `/api/media/file/${encodeURIComponent(name)}`;
    if (IMAGE.test(name)) previewBox.append(h("img", {src: url, alt: name, id: "preview-image"}));
    else if (/\.pdf$/i.test(name)) previewBox.append(h("iframe", {src: url, title: name}));
    previewBox.append(h("p", {}, h("a", {href: url, download: name}, name)));
  };
  const table = h("table", {id: "files"});
  async function loadFiles() {
    const files = await get("/api/media/files");
    clear(table).append(h("tr", {}, h("th", {}, "name"), h("th", {}, t("size")), h("th", {}, t("modified")), h("th", {}, "")),
      ...files.map((f) => h("tr", {"data-file": f.key}, h("td", {}, f.key), h("td", {}, String(f.size)), h("td", {}, f.last_modified || ""),
        h("td", {class: "actions"}, h("button", {class: "file-preview", onclick: () => preview(f.key)}, t("preview")),
          h("button", {class: "danger file-delete", onclick: async () => {
            try { await call("DELETE", `/api/media/file/${encodeURIComponent(f.key)}`); await loadFiles(); } catch (e) { msg.textContent = errorOf(e); }
          }}, t("del"))))));
  }
  await loadFiles();
  main.append(h("div", {class: "content"}, h("h2", {}, t("media")), section(t("upload"), drop), msg,
    h("div", {class: "cols"}, section(t("files"), table), previewBox)));
  return null;
}
