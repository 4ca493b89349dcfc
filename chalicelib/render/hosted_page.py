"""The hosted invoice page behind the email's "View invoice" link. Pure.

It shows the invoice exactly as the email does, with a toolbar (print, PDF download)
and, when tracking is on, a small script that confirms a real display: it calls the
beacon once the page has been visible for ``VISIBLE_SECONDS`` or the reader interacts
with it. Scanners that only fetch the URL never run it, so their fetches stay
``view`` facts with a machine verdict and never make the invoice ``viewed``.
"""

from __future__ import annotations

import html
import json

VISIBLE_SECONDS = 3
_TOOLBAR_TEXT = {
    "en": {
        "print": "Print",
        "pdf": "Download PDF",
        "title": "Invoice",
        "paid": "Paid",
        "void": "Void",
    },
    "es": {
        "print": "Imprimir",
        "pdf": "Descargar PDF",
        "title": "Factura",
        "paid": "Pagada",
        "void": "Anulada",
    },
}
_STYLE = (
    ".sobre-toolbar{display:flex;gap:12px;justify-content:center;padding:12px;"
    "font:15px/1.4 system-ui,sans-serif;background:#f3f4f6;border-bottom:1px solid #d1d5db}"
    ".sobre-toolbar a,.sobre-toolbar button{color:#1d4ed8;background:#fff;border:1px solid"
    " #1d4ed8;border-radius:6px;padding:6px 14px;font:inherit;cursor:pointer;"
    "text-decoration:none}@media print{.sobre-toolbar{display:none}}"
    ".sobre-settled{margin:0;padding:10px;text-align:center;font:700 18px/1.4 system-ui,"
    "sans-serif;letter-spacing:.08em;text-transform:uppercase}"
    ".sobre-settled-paid{background:#dcfce7;color:#14532d}"
    ".sobre-settled-void{background:#fee2e2;color:#7f1d1d}"
)
# Visible for VISIBLE_SECONDS in a row, or any interaction: then one beacon, once.
# The body carries the page load's nonce: a beacon counts only with the load it came from.
# JSON only (the route refuses the rest); a browser whose sendBeacon refuses a JSON Blob
# (or throws) posts it with fetch.
_SCRIPT = """(function(){var sent=false,timer=null,url=%s,load=%s;
function send(how){if(sent)return;sent=true;var body=JSON.stringify({trigger:how,nonce:load});
try{if(navigator.sendBeacon&&navigator.sendBeacon(url,new Blob([body],{type:'application/json'})))
return;}catch(e){}
fetch(url,{method:'POST',body:body,headers:{'Content-Type':'application/json'},keepalive:true});}
function arm(){clearTimeout(timer);if(document.visibilityState==='visible')
{timer=setTimeout(function(){send('visible')},%d);}}
document.addEventListener('visibilitychange',arm);arm();
['click','keydown','scroll','touchstart'].forEach(function(e){
window.addEventListener(e,function(){send('interaction')},{once:true,passive:true});});
document.getElementById('sobre-print').addEventListener('click',function(){window.print();});
})();"""


def hosted_page(
    invoice_html: str,
    language: str,
    pdf_url: str | None,
    beacon_url: str | None,
    nonce: str,
    beacon_nonce: str | None = None,
    payment_status: str = "unpaid",
) -> str:
    """The email's HTML turned into a page: toolbar after <body> (and, for a paid or
    void invoice, a banner saying so, printed too), script before </body>."""
    text = _TOOLBAR_TEXT.get(language, _TOOLBAR_TEXT["en"])
    toolbar = [
        f'<style nonce="{nonce}">{_STYLE}</style>',
        '<nav class="sobre-toolbar" aria-label="' + html.escape(text["title"]) + '">',
        f'<button type="button" id="sobre-print">{html.escape(text["print"])}</button>',
    ]
    if pdf_url:
        toolbar.append(f'<a href="{html.escape(pdf_url)}" download>{html.escape(text["pdf"])}</a>')
    toolbar.append("</nav>")
    if payment_status in ("paid", "void"):
        toolbar.append(
            f'<p class="sobre-settled sobre-settled-{payment_status}" role="status">'
            f"{html.escape(text[payment_status])}</p>"
        )
    script = (
        _SCRIPT % (json.dumps(beacon_url), json.dumps(beacon_nonce), VISIBLE_SECONDS * 1000)
        if beacon_url
        else (
            "document.getElementById('sobre-print').addEventListener('click',"
            "function(){window.print();});"
        )
    )
    body_start = invoice_html.find(">", invoice_html.find("<body")) + 1
    body_end = invoice_html.rfind("</body>")
    if body_start <= 0 or body_end < body_start:
        raise ValueError("the invoice HTML has no <body>")
    return (
        invoice_html[:body_start]
        + "".join(toolbar)
        + invoice_html[body_start:body_end]
        + f'<script nonce="{nonce}">{script}</script>'
        + invoice_html[body_end:]
    )


def content_security_policy(nonce: str) -> str:
    return (
        "default-src 'none'; img-src 'self' data:; "
        f"style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
