// Apps (shown only when the node runs them): chat rooms — members, who is online, recent
// messages, delete a message — through the chat's HTTP routes (/chat/*, admin only for the
// deletes and stats) and its chat_rooms / chat_members entities (read-only for an admin); Studio notebooks per user — the sessions
// (studio_sessions entity) and their sources (Knowledge documents), retry a failed source.
import {call, get} from "./api.js";
import {t} from "./i18n.js";
import {h, clear, errorOf, section} from "./dom.js";

// which apps this node runs: their routes answer (an app that is off has no routes: 404)
export async function enabledApps() {
  const probe = async (path) => {
    try { await get(path); return true; } catch (e) { return e.status !== 404; }
  };
  const [chat, studio] = await Promise.all([probe("/chat/stats"), probe("/api/sessions?limit=1")]);
  return {chat, studio};
}

const when = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : "");

async function userEmails() {
  try {
    const r = await get("/api/data/entity/users", {limit: 1000, select: "id,email"});
    return Object.fromEntries((r.data || []).map((u) => [String(u.id), u.email]));
  } catch { return {}; }
}

async function chatSection(room, emails) {
  // every room (GET /chat/rooms lists only public rooms and the caller's own private ones)
  const [stats, all] = await Promise.all([get("/chat/stats"), get("/api/data/entity/chat_rooms", {limit: 1000, sort: "room_key"})]);
  const rooms = {rooms: (all.data || []).map((r) => ({...r, id: r.room_key}))};
  const list = h("table", {id: "chat-rooms"}, h("tr", {}, h("th", {}, "id"), h("th", {}, t("name")), h("th", {}, t("visibility")),
    h("th", {}, t("lastSeq")), h("th", {}, t("createdBy"))),
    ...(rooms.rooms || []).map((r) => h("tr", {"data-room": r.id, class: r.id === room ? "clickable on" : "clickable",
      onclick: () => { location.hash = `#/apps/chat/${encodeURIComponent(r.id)}`; }},
      h("td", {}, r.id), h("td", {}, r.name), h("td", {}, r.is_public ? t("public") : t("private")),
      h("td", {}, String(r.last_seq)), h("td", {}, emails[r.created_by] || r.created_by))));
  const detail = h("div", {id: "chat-room"});
  const box = section(t("chatRooms"),
    h("p", {id: "chat-stats", class: "muted"}, t("chatStats", stats.rooms, stats.messages, stats.connections)), list, detail);
  if (room) await roomDetail(detail, room, (rooms.rooms || []).find((r) => r.id === room), emails);
  return box;
}

async function roomDetail(box, room, info, emails) {
  const err = h("p", {class: "error", id: "chat-error"});
  const messages = h("table", {id: "chat-messages"});
  const load = async () => {
    const r = await get(`/chat/rooms/${encodeURIComponent(room)}/messages`, {limit: 50});
    clear(messages);
    messages.append(h("tr", {}, h("th", {}, "seq"), h("th", {}, t("user")), h("th", {}, t("message")), h("th", {}, t("time")), h("th", {}, "")),
      ...(r.messages || []).slice().reverse().map((m) => h("tr", {"data-message": m.id},
        h("td", {}, String(m.seq)), h("td", {}, m.username || m.user_id), h("td", {class: "message-content"}, m.content),
        h("td", {}, when(m.created_at)),
        h("td", {class: "actions"}, h("button", {class: "danger message-delete", onclick: async () => {
          if (!confirm(t("confirmDeleteMessage"))) return;
          err.textContent = "";
          try { await call("DELETE", `/chat/rooms/${encodeURIComponent(room)}/messages/${encodeURIComponent(m.id)}`); await load(); }
          catch (e) { err.textContent = errorOf(e); }
        }}, t("del"))))));
    if (!(r.messages || []).length) messages.append(h("tr", {}, h("td", {colspan: 5, class: "muted"}, t("noMessages"))));
  };
  const [members, online] = await Promise.all([
    get("/api/data/entity/chat_members", {where: JSON.stringify({room_key: room}), limit: 500}).catch(() => ({data: []})),
    get(`/chat/rooms/${encodeURIComponent(room)}/users`).catch(() => ({users: []}))]);
  const memberList = info && info.is_public
    ? h("p", {id: "chat-members", class: "muted"}, t("publicRoom"))
    : h("ul", {id: "chat-members"}, ...(members.data || []).map((m) => h("li", {"data-member": m.user_id}, emails[m.user_id] || m.user_id)));
  await load();
  box.append(h("h3", {}, `${t("room")}: ${room}`),
    h("div", {class: "cols"},
      h("div", {}, h("strong", {}, t("members")), memberList),
      h("div", {}, h("strong", {}, t("online")), h("ul", {id: "chat-online"},
        ...(online.users || []).map((u) => h("li", {}, u.username || u.id))))),
    h("strong", {}, t("recentMessages")), err, messages);
}

async function studioSection(sessionId, emails) {
  const r = await get("/api/data/entity/studio_sessions", {limit: 200, sort: "-id"});
  const sessions = r.data || [];
  const byOwner = {};
  for (const s of sessions) (byOwner[s.owner_id] = byOwner[s.owner_id] || []).push(s);
  const detail = h("div", {id: "studio-session"});
  const box = section(t("notebooks"),
    ...Object.entries(byOwner).map(([owner, list]) => h("div", {class: "owner", "data-owner": owner},
      h("h3", {}, emails[owner] || `${t("user")} ${owner}`),
      h("table", {}, ...list.map((s) => h("tr", {"data-session": s.id, class: String(s.id) === sessionId ? "clickable on" : "clickable",
        onclick: () => { location.hash = `#/apps/studio/${encodeURIComponent(s.id)}`; }},
        h("td", {}, String(s.id)), h("td", {}, s.title || t("untitled")), h("td", {class: "muted"}, s.created_at || "")))))),
    sessions.length ? null : h("p", {class: "muted"}, t("noNotebooks")), detail);
  const current = sessions.find((s) => String(s.id) === sessionId);
  let stop = null;
  if (current) stop = await sourcesDetail(detail, current);
  return {box, stop};
}

// the sources of one session; refreshed every second while one is pending or processing
async function sourcesDetail(box, session) {
  const err = h("p", {class: "error", id: "studio-error"});
  const table = h("table", {id: "studio-sources"});
  let timer = null, stopped = false;
  const load = async () => {
    const docs = (await get(`/api/knowledge/collections/${encodeURIComponent(session.collection_id)}/documents`)).data || [];
    if (stopped) return;
    clear(table);
    table.append(h("tr", {}, h("th", {}, t("docTitle")), h("th", {}, t("kind")), h("th", {}, t("status")), h("th", {}, t("progress")),
      h("th", {}, t("error")), h("th", {}, "")),
      ...docs.map((d) => h("tr", {"data-source": d.id, "data-state": d.state},
        h("td", {}, d.title || d.source || d.id), h("td", {}, d.kind), h("td", {class: `source-state state-${d.state}`}, d.state),
        h("td", {}, `${Math.round((d.progress || 0) * 100)}%`), h("td", {class: "source-error"}, d.error || ""),
        h("td", {class: "actions"}, d.state === "failed" ? h("button", {class: "source-retry", onclick: async () => {
          err.textContent = "";
          try { await call("POST", `/api/knowledge/documents/${encodeURIComponent(d.id)}/retry`); await load(); }
          catch (e) { err.textContent = errorOf(e); }
        }}, t("retry")) : null))));
    clearTimeout(timer);
    if (docs.some((d) => d.state === "pending" || d.state === "processing")) timer = setTimeout(() => load().catch(() => {}), 1000);
  };
  await load();
  box.append(h("h3", {}, `${t("sources")}: ${session.title || session.id}`), err, table);
  return () => { stopped = true; clearTimeout(timer); };
}

export async function appsView(main, [app, id], apps) {
  const emails = await userEmails();
  const parts = [];
  let stop = null;
  if (apps.chat) parts.push(await chatSection(app === "chat" ? id : null, emails));
  if (apps.studio) {
    const s = await studioSection(app === "studio" ? id : null, emails);
    parts.push(s.box);
    stop = s.stop;
  }
  main.append(h("div", {class: "content", id: "apps"}, h("h2", {}, t("apps")), ...parts));
  return stop;
}
