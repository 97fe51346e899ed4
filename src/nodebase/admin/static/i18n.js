// English and Chinese strings of the admin UI. The choice is kept in the cookie "nb_lang"
// (the server renders the shell in it too); without it the browser's language decides.
const STRINGS = {
  en: {
    title: "nodebase admin", signin: "Sign in", email: "E-mail", password: "Password",
    signinPasskey: "Sign in with a passkey", signout: "Sign out", badLogin: "Wrong e-mail or password",
    data: "Data", schema: "Schema", auth: "Auth", media: "Media", flows: "Flows", system: "System",
    entities: "Entities", rows: "rows", newRow: "New row", save: "Save", cancel: "Cancel",
    edit: "Edit", del: "Delete", confirmDelete: "Delete this row?", prev: "Previous", next: "Next",
    filter: "Filter", addCondition: "Add condition", apply: "Apply", clear: "Clear", query: "Query",
    pageOf: (a, b, n) => `${a}–${b} of ${n}`, noRows: "No rows", live: "live",
    newEntity: "New entity", entityName: "Entity name", fields: "Fields", addField: "Add field",
    fieldName: "Field name", type: "Type", required: "required", unique: "unique",
    minLength: "min length", maxLength: "max length", create: "Create", syncPlan: "Sync plan",
    destructive: "This change drops data:", confirmDrop: "Drop anyway", dropField: "Drop field",
    users: "Users", roles: "Roles", apikeys: "API keys", role: "Role", newUser: "New user",
    myPasskeys: "My passkeys", addPasskey: "Add a passkey", resetPassword: "Reset password", revokeSessions: "Sign out everywhere", newPassword: "New password", newRole: "New role",
    roleName: "Role name", permissions: "Permissions", rowFilter: "Row filter (JSON, e.g. {\"owner_id\": \"@user.id\"})",
    filterEntity: "Entity the filter applies to", badJson: "Not valid JSON", unknownField: "Unknown field on", keyName: "Key name",
    keyShownOnce: "Copy the key now: it is shown only once.", revoke: "Revoke", revoked: "revoked",
    files: "Files", upload: "Upload", size: "Size", preview: "Preview", modified: "Modified",
    runs: "Runs", tasks: "Tasks", connections: "Connections", run: "Run", input: "Input (JSON)",
    status: "Status", output: "Output", error: "Error", health: "Health", version: "Version",
    config: "Config", swagger: "API documentation (Swagger)", saved: "Saved", language: "Language",
    related: "Related", relatedCount: (n) => `${n} row(s)`, noChanges: "No database change.", dropsData: "drops data",
    before: "Before", after: "After", planDrops: "This plan drops data: applying it asks for a confirmation.",
    applyChange: "Apply", review: "Review", mappedBy: "mappedBy (optional)", relations: "Relations", name: "Name",
    sourceTarget: "Source → target", removeRelation: "Remove relation", addRelation: "Add relation",
    indices: "Indices", entity: "Entity", indexFields: "fields, comma-separated", removeIndex: "Remove index", addIndex: "Add index",
    implicitAllow: "Allowed everything not listed (implicit_allow).",
    apps: "Apps", chatRooms: "Chat rooms", visibility: "Visibility", lastSeq: "Last seq", createdBy: "Created by",
    public: "public", private: "private", chatStats: (r, m, c) => `${r} rooms · ${m} messages · ${c} connections on this node`,
    user: "User", message: "Message", time: "Time", confirmDeleteMessage: "Delete this message?", noMessages: "No messages",
    publicRoom: "Public room: every user may join.", room: "Room", members: "Members", online: "Online now",
    recentMessages: "Recent messages (newest first)", notebooks: "Studio notebooks", untitled: "Untitled",
    noNotebooks: "No notebooks yet", docTitle: "Title", kind: "Kind", progress: "Progress", retry: "Retry", sources: "Sources",
    metrics: "Metrics (this process, sampled every 2 s)", requestsPerSecond: "Requests", latency: "Mean latency",
    errorsPerSecond: "Errors (5xx)", connectionsNow: "Realtime connections",
    metricsSummary: (r, e, l, c) => `${r} requests · ${e} errors · ${l} ms mean latency · ${c} connections since the start`,
    route: "Route", requests: "Requests", meanLatency: "Mean latency", busiestRoutes: "Busiest routes",
    level: "Level", noLogs: "No log lines at this level (request lines are recorded at log_level info or debug)",
    recentLogs: "Recent logs (this process)", refresh: "Refresh",
    notAdmin: "This account is not an admin.", loading: "Loading…", none: "—", trigger: "Trigger", graph: "Graph",
  },
  zh: {
    title: "nodebase 管理后台", signin: "登录", email: "邮箱", password: "密码",
    signinPasskey: "使用通行密钥登录", signout: "退出登录", badLogin: "邮箱或密码错误",
    data: "数据", schema: "结构", auth: "认证", media: "媒体", flows: "流程", system: "系统",
    entities: "实体", rows: "行", newRow: "新建行", save: "保存", cancel: "取消",
    edit: "编辑", del: "删除", confirmDelete: "删除这一行?", prev: "上一页", next: "下一页",
    filter: "筛选", addCondition: "添加条件", apply: "应用", clear: "清除", query: "查询",
    pageOf: (a, b, n) => `第 ${a}–${b} 条,共 ${n} 条`, noRows: "没有数据", live: "实时",
    newEntity: "新建实体", entityName: "实体名称", fields: "字段", addField: "添加字段",
    fieldName: "字段名", type: "类型", required: "必填", unique: "唯一",
    minLength: "最小长度", maxLength: "最大长度", create: "创建", syncPlan: "同步计划",
    destructive: "此更改会删除数据:", confirmDrop: "仍然删除", dropField: "删除字段",
    users: "用户", roles: "角色", apikeys: "API 密钥", role: "角色", newUser: "新建用户",
    myPasskeys: "我的通行密钥", addPasskey: "添加通行密钥", resetPassword: "重置密码", revokeSessions: "注销所有会话", newPassword: "新密码", newRole: "新建角色",
    roleName: "角色名", permissions: "权限", rowFilter: "行过滤(JSON,例如 {\"owner_id\": \"@user.id\"})",
    filterEntity: "过滤作用的实体", badJson: "不是有效的 JSON", unknownField: "实体中没有该字段：", keyName: "密钥名称",
    keyShownOnce: "请立即复制密钥:它只显示这一次。", revoke: "吊销", revoked: "已吊销",
    files: "文件", upload: "上传", size: "大小", preview: "预览", modified: "修改时间",
    runs: "运行记录", tasks: "任务", connections: "连接", run: "运行", input: "输入(JSON)",
    status: "状态", output: "输出", error: "错误", health: "健康状态", version: "版本",
    config: "配置", swagger: "API 文档(Swagger)", saved: "已保存", language: "语言",
    related: "关联数据", relatedCount: (n) => `${n} 行`, noChanges: "数据库无需更改。", dropsData: "会删除数据",
    before: "修改前", after: "修改后", planDrops: "此计划会删除数据:应用时需要再次确认。",
    applyChange: "应用", review: "预览更改", mappedBy: "mappedBy(可选)", relations: "关系", name: "名称",
    sourceTarget: "源 → 目标", removeRelation: "删除关系", addRelation: "添加关系",
    indices: "索引", entity: "实体", indexFields: "字段,用逗号分隔", removeIndex: "删除索引", addIndex: "添加索引",
    implicitAllow: "未列出的权限全部允许(implicit_allow)。",
    apps: "应用", chatRooms: "聊天室", visibility: "可见性", lastSeq: "最新序号", createdBy: "创建者",
    public: "公开", private: "私有", chatStats: (r, m, c) => `${r} 个聊天室 · ${m} 条消息 · 本节点 ${c} 个连接`,
    user: "用户", message: "消息", time: "时间", confirmDeleteMessage: "删除这条消息?", noMessages: "没有消息",
    publicRoom: "公开聊天室:所有用户都可以加入。", room: "聊天室", members: "成员", online: "当前在线",
    recentMessages: "最近的消息(最新在前)", notebooks: "Studio 笔记本", untitled: "未命名",
    noNotebooks: "还没有笔记本", docTitle: "标题", kind: "类型", progress: "进度", retry: "重试", sources: "来源",
    metrics: "指标(本进程,每 2 秒采样)", requestsPerSecond: "请求", latency: "平均延迟",
    errorsPerSecond: "错误(5xx)", connectionsNow: "实时连接",
    metricsSummary: (r, e, l, c) => `启动以来:${r} 个请求 · ${e} 个错误 · 平均延迟 ${l} ms · ${c} 个连接`,
    route: "路由", requests: "请求数", meanLatency: "平均延迟", busiestRoutes: "最繁忙的路由",
    level: "级别", noLogs: "此级别没有日志(log_level 为 info 或 debug 时才记录请求日志)",
    recentLogs: "最近日志(本进程)", refresh: "刷新",
    notAdmin: "此账号不是管理员。", loading: "加载中…", none: "—", trigger: "触发器", graph: "流程图",
  },
};

function cookieLang() {
  const m = document.cookie.match(/(?:^|; )nb_lang=(en|zh)/);
  return m ? m[1] : null;
}

export let lang = cookieLang() || ((navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en");

export function t(key, ...args) {
  const v = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  return typeof v === "function" ? v(...args) : v;
}

export function setLang(next) {
  lang = next;
  document.cookie = `nb_lang=${next}; path=/; max-age=31536000; samesite=lax`;
  document.documentElement.lang = next === "zh" ? "zh-CN" : "en";
}
