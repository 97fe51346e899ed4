// Drive nodebase's media routes with bknd's own client (bknd@0.20.0, "bknd/client").
// Env: NB_URL, NB_TOKEN, NB_ENTITY, NB_ID, NB_FIELD. Prints one JSON object with what it saw.
import { Api } from "bknd/client";

const env = process.env;
const api = new Api({ host: env.NB_URL, token: env.NB_TOKEN });
const out = {};

const text = "uploaded by bknd's client " + Date.now();
const file = new File([text], "bknd-client.txt", { type: "text/plain" });
const up = await api.media.upload(file);
out.upload = { ok: up.ok, status: up.res.status, name: up.body?.name, meta: up.body?.meta,
               path: up.body?.data?.path };

const got = await api.media.getFile(up.body.name);
// text/* answers are read as a string by the client (so download() of text fails in bknd too)
out.getFile = { ok: got.ok, status: got.res.status, body: got.body };
out.expected = text;
const bytes = new Uint8Array(4096).map((_, i) => (i * 31) % 256);
const bin = await api.media.upload(new File([bytes], "bytes.bin", { type: "application/octet-stream" }));
out.uploadBinary = { ok: bin.ok, status: bin.res.status, name: bin.body?.name };
const blob = await api.media.download(bin.body.name);
out.download = Buffer.from(await blob.arrayBuffer()).toString("base64");
out.downloadExpected = Buffer.from(bytes).toString("base64");

const list = await api.media.listFiles();
out.listFiles = { ok: list.ok, keys: (Array.isArray(list.body) ? list.body : []).map((f) => f.key) };

const png = new Uint8Array(Buffer.from(env.NB_PNG_B64, "base64"));
const image = new File([png], "cover.png", { type: "image/png" });
const attach = await api.media.uploadToEntity(env.NB_ENTITY, Number(env.NB_ID), env.NB_FIELD, image);
out.uploadToEntity = { ok: attach.ok, status: attach.res.status, result: attach.body?.result };
const again = await api.media.uploadToEntity(env.NB_ENTITY, Number(env.NB_ID), env.NB_FIELD, image,
                                             { overwrite: true });
out.overwrite = { ok: again.ok, status: again.res.status, name: again.body?.name };
const refused = await api.media.uploadToEntity(env.NB_ENTITY, Number(env.NB_ID), env.NB_FIELD, image);
out.overMax = { ok: refused.ok, status: refused.res.status };

const row = await api.data.readOne(env.NB_ENTITY, Number(env.NB_ID), { with: [env.NB_FIELD] });
out.readWith = (row.data?.[env.NB_FIELD] ?? []).map((m) => m.path);

const del = await api.media.deleteFile(up.body.name);
out.deleteFile = { ok: del.ok, status: del.res.status, body: del.body };
const gone = await api.media.getFile(up.body.name);
out.afterDelete = { ok: gone.ok, status: gone.res.status };

process.stdout.write(JSON.stringify(out) + "\n");
