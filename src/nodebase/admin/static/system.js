// System: health, version, config (the server masks secrets), the API documentation.
import {get} from "./api.js";
import {t} from "./i18n.js";
import {h, pre, section} from "./dom.js";

export async function systemView(main) {
  const [health, info, config] = await Promise.all([get("/health"), get("/api/system/info"), get("/api/system/config")]);
  main.append(h("div", {class: "content"}, h("h2", {}, t("system")),
    h("div", {class: "cols"},
      section(t("health"), h("p", {id: "health", class: health.status === "ok" ? "ok" : "error"}, health.status), pre(health)),
      section(t("version"), h("p", {id: "version"}, `nodebase ${info.version.nodebase} · bknd ${info.version.bknd} · config v${info.version.config}`),
        h("p", {}, h("a", {id: "swagger-link", href: "/api/system/swagger", target: "_blank"}, t("swagger"))))),
    section(t("config"), pre(config, {id: "config"}))));
  return null;
}
