#!/usr/bin/env python3
"""paydesk walk-through: sign requests, create, fetch and close a pay order, and
receive the signed `pay_order.closed` notification on a local port; then (`--checkout`)
create a second order, print its checkout link for you to open in a browser and pay in
the sandbox wallet, wait for the signed `pay_order.paid` notification, and refund part of it.

Standard library only. Usage (with `paydesk serve` running):

    paydesk business-line add shop --notify-url http://127.0.0.1:9000/notify --json > shop.json
    python3 examples/walkthrough.py --credentials shop.json
    python3 examples/walkthrough.py --credentials shop.json --checkout
    # --auto-pay does what the buyer would (pick WeChat Pay, "scan", pay in the sandbox
    # wallet) through the checkout's JSON API and the sandbox's control API, for scripts.

The signature (see docs/signing.md):
    Authorization: PAYDESK-HMAC-SHA256 app_id="..",timestamp="..",nonce="..",signature=".."
    signature = base64(HMAC-SHA256(secret, METHOD\nPATH_AND_QUERY\nTIMESTAMP\nNONCE\nBODY\n))
"""
import argparse
import base64
import hashlib
import hmac
import json
import secrets
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer


def sign(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


class Client:
    def __init__(self, base: str, app_id: str, secret: str):
        self.base, self.app_id, self.secret = base.rstrip("/"), app_id, secret

    def call(self, method: str, target: str, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        ts = str(int(time.time()))
        nonce = secrets.token_hex(16)
        msg = b"\n".join([method.encode(), target.encode(), ts.encode(), nonce.encode(), data]) + b"\n"
        auth = (f'PAYDESK-HMAC-SHA256 app_id="{self.app_id}",timestamp="{ts}",'
                f'nonce="{nonce}",signature="{sign(self.secret, msg)}"')
        req = urllib.request.Request(self.base + target, data=data if body is not None else None,
                                     method=method, headers={"Authorization": auth,
                                                             "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")


def start_receiver(port: int, secret: str, received: list, done: threading.Event):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            ts, nonce = self.headers["Paydesk-Timestamp"], self.headers["Paydesk-Nonce"]
            expected = sign(secret, ts.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n")
            ok = hmac.compare_digest(expected, self.headers["Paydesk-Signature"])
            event = json.loads(body)
            print(f"  <- notification {event['type']} {event['id']} signature {'OK' if ok else 'BAD'}")
            received.append((ok, event))
            self.send_response(200 if ok else 401)
            self.end_headers()
            self.wfile.write(b"SUCCESS" if ok else b"FAIL")  # paydesk retries until SUCCESS
            done.set()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", default="http://127.0.0.1:8080")
    p.add_argument("--credentials", help='JSON file {"app_id","secret"} from business-line add --json')
    p.add_argument("--app-id")
    p.add_argument("--secret")
    p.add_argument("--notify-port", type=int, default=9000)
    p.add_argument("--order-no", default=f"DEMO-{int(time.time())}")
    p.add_argument("--checkout", action="store_true", help="also create an order to pay in the browser")
    p.add_argument("--auto-pay", action="store_true", help="with --checkout: pay it through the sandbox's control API")
    p.add_argument("--sandbox", default="http://127.0.0.1:8090", help="the embedded sandbox (for --auto-pay)")
    p.add_argument("--wait", type=int, default=600, help="seconds to wait for the payment")
    a = p.parse_args()
    if a.credentials:
        with open(a.credentials) as f:
            creds = json.load(f)
        a.app_id, a.secret = creds["app_id"], creds["secret"]
    if not (a.app_id and a.secret):
        p.error("give --credentials or --app-id and --secret")

    received, done = [], threading.Event()
    receiver = start_receiver(a.notify_port, a.secret, received, done)
    c = Client(a.base, a.app_id, a.secret)

    order = {"business_order_no": a.order_no, "amount": 1999, "currency": "CNY",
             "subject": "Used bike", "buyer_id": "buyer-42", "facts": {"category": "bikes"}}
    status, created = c.call("POST", "/v1/pay-orders", order)
    print(f"create   -> {status} {created.get('id')} {created.get('status')} checkout {created.get('checkout_url')}")
    assert status == 201, created
    status, again = c.call("POST", "/v1/pay-orders", order)
    print(f"repeat   -> {status} {again.get('id')} (same order: idempotent)")
    assert status == 200 and again["id"] == created["id"], again
    status, fetched = c.call("GET", f"/v1/pay-orders/{created['id']}")
    print(f"fetch    -> {status} {fetched.get('status')} amount {fetched.get('amount')} {fetched.get('currency')}")
    assert status == 200 and fetched["amount"] == 1999, fetched
    status, closed = c.call("POST", f"/v1/pay-orders/{created['id']}/close")
    print(f"close    -> {status} {closed.get('status')}")
    assert status == 200 and closed["status"] == "CLOSED", closed

    if not done.wait(30):
        print("no notification within 30 s", file=sys.stderr)
        return 1
    ok, event = received[0]
    assert ok and event["type"] == "pay_order.closed" and event["data"]["id"] == created["id"], event
    status, history = c.call("GET", f"/v1/pay-orders/{created['id']}/notifications")
    print(f"history  -> {status} {[n['type'] + ':' + n['status'] for n in history['data']]}")
    if a.checkout:
        done.clear()
        received.clear()
        if checkout(a, c, received, done) != 0:
            return 1
    receiver.shutdown()
    print("walk-through complete")
    return 0


def http_json(method: str, url: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"{}")


def checkout(a, c: Client, received: list, done: threading.Event) -> int:
    order = {"business_order_no": a.order_no + "-PAY", "amount": 2599, "currency": "CNY",
             "subject": "Vintage camera", "buyer_id": "buyer-42"}
    status, created = c.call("POST", "/v1/pay-orders", order)
    assert status == 201, created
    url = created["checkout_url"]
    print(f"\ncheckout -> open {url}")
    print("            pick a method and pay in the sandbox wallet (it opens from the QR code or the redirect)")
    if a.auto_pay:
        token = url.rsplit("/", 1)[1]
        options = http_json("GET", f"{a.base}/checkout/{token}/options?terminal=PC")
        print(f"options  -> {[m['method'] for m in options['methods']]} amount {options['amount']['display']}")
        paid = http_json("POST", f"{a.base}/checkout/{token}/pay", {"method": "WECHAT_PAY", "terminal": "PC"})
        print(f"pay      -> {paid['provider']} {paid['product']} {paid['action']['type']} {paid['action'].get('content')}")
        http_json("POST", f"{a.sandbox}/sandbox/orders/{paid['provider']}/{paid['attempt_no']}/pay", {})
        print("buyer    -> paid in the sandbox wallet")
    if not done.wait(a.wait):
        print(f"no payment notification within {a.wait} s", file=sys.stderr)
        return 1
    ok, event = received[0]
    assert ok and event["type"] == "pay_order.paid" and event["data"]["id"] == created["id"], event
    status, fetched = c.call("GET", f"/v1/pay-orders/{created['id']}")
    print(f"fetch    -> {status} {fetched['status']} paid_at {fetched['paid_at']}")
    assert fetched["status"] == "PAID", fetched
    done.clear()
    status, refund = c.call("POST", f"/v1/pay-orders/{created['id']}/refunds",
                            {"business_refund_no": a.order_no + "-R1", "amount": 599, "currency": "CNY"})
    print(f"refund   -> {status} {refund.get('status')} {refund.get('amount')}")
    assert status == 201, refund
    if not done.wait(60):
        print("no refund notification within 60 s", file=sys.stderr)
        return 1
    ok, event = received[-1]
    assert ok and event["type"] == "refund.succeeded", event
    return 0


if __name__ == "__main__":
    sys.exit(main())
