"""The reporting dashboard's web kit: labels in Vietnamese and English, Vietnamese
formats, one table abstraction shared by pages and exports, Jinja2 pages and the
static files (the chart library comes from npm and is served locally, never a CDN).

- ``i18n``: messages, ``Translator``, date/number/period formatting, ``pick_lang``.
- ``tables``: ``Column``, ``Table``, CSV and XLSX exports.
- ``render``: the Jinja2 environment, ``render_page``, ``static_response``.
- ``urls``: every dashboard address the templates link to, in one place.
"""
