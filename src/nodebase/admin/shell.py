"""The admin UI's HTML: the shell that loads the ES modules, and the "not an admin" page."""

from __future__ import annotations

from html import escape


def wants_chinese(cookie: str | None, accept_language: str) -> bool:
    """The chosen language (cookie ``nb_lang``) or else the browser's first preference."""
    if cookie in ("en", "zh"):
        return cookie == "zh"
    first = accept_language.split(",")[0].strip().lower()
    return first.startswith("zh")


def shell_page(zh: bool) -> str:
    lang = "zh-CN" if zh else "en"
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nodebase admin</title>
<link rel="stylesheet" href="/admin/static/admin.css">
<script type="module" src="/admin/static/app.js"></script>
</head><body><div id="app"></div></body></html>"""


def denied_page(zh: bool, email: str) -> str:
    who = escape(email)
    if zh:
        title, text, out = "无权访问", f"账号 {who} 不是管理员,无法使用管理后台。", "退出登录"
    else:
        title, text, out = "Not an admin", f"The account {who} is not an admin: the admin UI is not available to it.", "Sign out"
    return f"""<!doctype html>
<html lang="{'zh-CN' if zh else 'en'}"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="/admin/static/admin.css"></head>
<body><main class="denied"><h1 id="denied-title">{title}</h1><p id="denied-text">{text}</p>
<form method="post" action="/api/auth/logout?redirect=/admin"><button id="denied-logout">{out}</button></form>
</main></body></html>"""
