"""The PyPI SDK `wechatpayv3` (an independent client) against paydesk's sandbox.

Usage: wechatpay_conformance.py BASE_URL MERCHANT_JSON CASES_OUT COUNTS_OUT

Creates NATIVE and JSAPI orders, queries, closes, refunds, and verifies + decrypts the
sandbox's callbacks with the SDK's own code, in public-key mode and certificate mode. Writes
signature cases (the SDK's request signature and JSAPI paySign for fixed inputs) for
paydesk to reproduce byte for byte.
"""

import json
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import wechatpayv3.utils as wxutils
from wechatpayv3 import WeChatPay, WeChatPayType

BASE, MERCHANT_FILE, CASES_OUT, COUNTS_OUT = sys.argv[1:5]
M = json.load(open(MERCHANT_FILE))
PASSED, FAILED = 0, 0


def check(name, cond, detail=""):
    global PASSED, FAILED
    if cond:
        PASSED += 1
        print(f"ok   wechatpayv3: {name}")
    else:
        FAILED += 1
        print(f"FAIL wechatpayv3: {name} {detail}")


# --- a callback receiver that verifies and decrypts with the SDK ------------------------
RECEIVED = []  # (path, headers, body, result)
CLIENT = {}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k: v for k, v in self.headers.items()}
        try:
            result = CLIENT["wx"].callback(headers, body)
        except Exception as e:  # noqa: BLE001 - report any SDK failure as a refusal
            result = None
            print(f"     callback error: {e}")
        RECEIVED.append((self.path, headers, body, result))
        if result:
            self.send_response(204)
            self.end_headers()
        else:
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"code":"FAIL","message":"verify failed"}')

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
NOTIFY = f"http://127.0.0.1:{server.server_address[1]}/notify"


def control(path, body=None):
    req = urllib.request.Request(
        BASE + path,
        data=json.dumps(body or {}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read() or b"null")


def wait_for(pred, seconds=10):
    end = time.time() + seconds
    while time.time() < end:
        got = [r for r in RECEIVED if pred(r)]
        if got:
            return got
        time.sleep(0.05)
    return []


def client(public_key_mode=True, cert_dir=None):
    kwargs = dict(
        wechatpay_type=WeChatPayType.NATIVE,
        mchid=M["mchid"],
        private_key=M["merchant_private_key_pem"],
        cert_serial_no=M["merchant_serial_no"],
        appid=M["appid"],
        apiv3_key=M["apiv3_key"],
        notify_url=NOTIFY + "/pay",
        timeout=(5, 10),
    )
    if public_key_mode:
        kwargs.update(public_key=M["platform_public_key_pem"], public_key_id=M["platform_public_key_id"])
    else:
        kwargs.update(cert_dir=cert_dir)
    wx = WeChatPay(**kwargs)
    # The SDK has no base-URL option: point its gateway attribute at the sandbox.
    wx._core._gate_way = BASE
    return wx


run = str(int(time.time() * 1000))[-9:]
wx = client()
CLIENT["wx"] = wx

# NATIVE create
no_native = f"PYN{run}"
code, msg = wx.pay(description="conformance native", out_trade_no=no_native, amount={"total": 1234, "currency": "CNY"})
data = json.loads(msg) if code == 200 else {}
check("NATIVE create returns a weixin:// code_url", code == 200 and data.get("code_url", "").startswith("weixin://wxpay/bizpayurl?pr="), f"{code} {msg}")

# JSAPI create + the SDK's own client signature
no_jsapi = f"PYJ{run}"
code, msg = wx.pay(
    description="conformance jsapi",
    out_trade_no=no_jsapi,
    amount={"total": 100},
    payer={"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
    pay_type=WeChatPayType.JSAPI,
)
prepay_id = json.loads(msg).get("prepay_id", "") if code == 200 else ""
check("JSAPI create returns a prepay_id", code == 200 and prepay_id.startswith("wx"), f"{code} {msg}")

# query both
code, msg = wx.query(out_trade_no=no_native)
check("query by out_trade_no: NOTPAY", code == 200 and json.loads(msg).get("trade_state") == "NOTPAY", f"{code} {msg}")
code, msg = wx.query(out_trade_no="PYNOPE" + run)
check("query of an unknown order: 404 ORDER_NOT_EXIST", code == 404 and json.loads(msg).get("code") == "ORDER_NOT_EXIST", f"{code} {msg}")

# close the JSAPI order
code, msg = wx.close(out_trade_no=no_jsapi)
check("close: 204", code == 204, f"{code} {msg}")
code, msg = wx.query(out_trade_no=no_jsapi)
check("closed order queries CLOSED", code == 200 and json.loads(msg).get("trade_state") == "CLOSED", f"{code} {msg}")

# pay the NATIVE order in the wallet: the SDK verifies and decrypts the callback
status, _ = control(f"/sandbox/orders/wechatpay/{no_native}/pay")
check("wallet pays the NATIVE order", status == 200)
got = wait_for(lambda r: r[0] == "/notify/pay" and r[3])
res = got[0][3] if got else {}
resource = (res or {}).get("resource", {})
check("payment callback verified + decrypted by the SDK", resource.get("out_trade_no") == no_native and resource.get("trade_state") == "SUCCESS", str(res))
check("callback amount and merchant match", resource.get("amount", {}).get("total") == 1234 and resource.get("mchid") == M["mchid"] and resource.get("appid") == M["appid"], str(resource))
check("callback event type TRANSACTION.SUCCESS", (res or {}).get("event_type") == "TRANSACTION.SUCCESS", str(res))
txn = resource.get("transaction_id", "")

# a tampered callback is refused by the SDK
if got:
    _, headers, body, _ = got[0]
    tampered = body.replace(b'"event_type":"TRANSACTION.SUCCESS"', b'"event_type":"TRANSACTION.SUCCESX"')
    check("tampered callback refused by the SDK", tampered != body and wx.callback(headers, tampered) is None)
else:
    check("tampered callback refused by the SDK", False, "no callback")

code, msg = wx.query(transaction_id=txn)
check("query by transaction_id: SUCCESS", code == 200 and json.loads(msg).get("trade_state") == "SUCCESS", f"{code} {msg}")

# refund, query, refund callback
no_refund = f"PYR{run}"
code, msg = wx.refund(out_refund_no=no_refund, amount={"refund": 234, "total": 1234, "currency": "CNY"}, out_trade_no=no_native, reason="conformance", notify_url=NOTIFY + "/refund")
check("refund accepted (PROCESSING)", code == 200 and json.loads(msg).get("status") in ("PROCESSING", "SUCCESS"), f"{code} {msg}")
code, msg = wx.refund(out_refund_no=f"PYX{run}", amount={"refund": 2000, "total": 1234, "currency": "CNY"}, out_trade_no=no_native)
check("refund above the paid amount refused", code == 400, f"{code} {msg}")
got = wait_for(lambda r: r[0] == "/notify/refund" and r[3])
rres = (got[0][3] if got else {}) or {}
check("refund callback verified + decrypted by the SDK", rres.get("event_type") == "REFUND.SUCCESS" and rres.get("resource", {}).get("out_refund_no") == no_refund, str(rres))
code, msg = wx.query_refund(out_refund_no=no_refund)
check("query_refund: SUCCESS", code == 200 and json.loads(msg).get("status") == "SUCCESS", f"{code} {msg}")
code, msg = wx.query(out_trade_no=no_native)
check("refunded order queries REFUND", code == 200 and json.loads(msg).get("trade_state") == "REFUND", f"{code} {msg}")

# a client with the wrong platform public key refuses the sandbox's answers
try:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives import serialization
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    bad = WeChatPay(
        wechatpay_type=WeChatPayType.NATIVE, mchid=M["mchid"], private_key=M["merchant_private_key_pem"],
        cert_serial_no=M["merchant_serial_no"], appid=M["appid"], apiv3_key=M["apiv3_key"], notify_url=NOTIFY,
        public_key=other, public_key_id=M["platform_public_key_id"])
    bad._core._gate_way = BASE
    bad.query(out_trade_no=no_native)
    check("wrong platform key: answer refused by the SDK", False, "accepted")
except Exception as e:  # noqa: BLE001
    check("wrong platform key: answer refused by the SDK", "verify the signature" in str(e), str(e))

# a request signed with another merchant key is refused by the sandbox (401 SIGN_ERROR)
from cryptography.hazmat.primitives.asymmetric import rsa as _rsa
from cryptography.hazmat.primitives import serialization as _ser
wrong_key = _rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
    _ser.Encoding.PEM, _ser.PrivateFormat.PKCS8, _ser.NoEncryption()).decode()
impostor = WeChatPay(
    wechatpay_type=WeChatPayType.NATIVE, mchid=M["mchid"], private_key=wrong_key,
    cert_serial_no=M["merchant_serial_no"], appid=M["appid"], apiv3_key=M["apiv3_key"], notify_url=NOTIFY,
    public_key=M["platform_public_key_pem"], public_key_id=M["platform_public_key_id"])
impostor._core._gate_way = BASE
code, msg = impostor.pay(description="x", out_trade_no=f"PYI{run}", amount={"total": 1})
check("wrong merchant key: 401 SIGN_ERROR", code == 401 and json.loads(msg).get("code") == "SIGN_ERROR", f"{code} {msg}")

# certificate mode: the sandbox signs with its platform certificate; the SDK loads it from
# cert_dir, then downloads /v3/certificates itself and decrypts it with the APIv3 key
status, _ = control(f"/sandbox/merchants/wechatpay/{M['mchid']}/sign-mode", {"mode": "certificate"})
check("switch to certificate mode", status == 200)
cert_dir = tempfile.mkdtemp(prefix="wxcerts")
with open(f"{cert_dir}/{M['platform_certificate_serial']}.pem", "w") as f:
    f.write(M["platform_certificate_pem"])
wxc = client(public_key_mode=False, cert_dir=cert_dir)
code, msg = wxc.query(out_trade_no=no_native)
check("certificate mode: answer verified with the platform certificate", code == 200 and json.loads(msg).get("out_trade_no") == no_native, f"{code} {msg}")
wxc._core._update_certificates()
serials = [format(c.serial_number, "X") for c in wxc._core._certificates]
check("GET /v3/certificates decrypted by the SDK", serials == [M["platform_certificate_serial"].lstrip("0")], str(serials))
CLIENT["wx"] = wxc
no_cert = f"PYC{run}"
code, msg = wxc.pay(description="cert mode", out_trade_no=no_cert, amount={"total": 88}, notify_url=NOTIFY + "/cert")
control(f"/sandbox/orders/wechatpay/{no_cert}/pay")
got = wait_for(lambda r: r[0] == "/notify/cert" and r[3])
check("certificate mode: callback verified + decrypted by the SDK", bool(got) and got[0][3]["resource"]["out_trade_no"] == no_cert)
control(f"/sandbox/merchants/wechatpay/{M['mchid']}/sign-mode", {"mode": "public_key"})

# --- signature cases for paydesk to reproduce ------------------------------------------
cases = []
body = {"appid": M["appid"], "mchid": M["mchid"], "description": "Concert ticket 演唱会", "out_trade_no": "SIG0001",
        "notify_url": "https://paydesk.example/notify", "amount": {"total": 1234, "currency": "CNY"}}
real_time = wxutils.time.time
wxutils.time.time = lambda: 1700000000
try:
    for method, path, data in [
        ("POST", "/v3/pay/transactions/native", body),
        ("GET", f"/v3/pay/transactions/out-trade-no/SIG0001?mchid={M['mchid']}", None),
        ("POST", "/v3/pay/transactions/out-trade-no/SIG0001/close", {"mchid": M["mchid"]}),
    ]:
        nonce = "593BEC0C930BF1AFEB40B4A08C8FB242"
        auth = wxutils.build_authorization(path, method, M["mchid"], M["merchant_serial_no"], wx._core._private_key, data=data, nonce_str=nonce)
        cases.append({
            "name": f"wechatpayv3 Authorization {method} {path.split('?')[0]}",
            "kind": "wechatpay_request", "key_pem": M["merchant_private_key_pem"], "mchid": M["mchid"],
            "serial_no": M["merchant_serial_no"], "method": method, "path": path, "timestamp": 1700000000,
            "nonce": nonce, "body": json.dumps(data) if data else "", "sdk": auth,
        })
finally:
    wxutils.time.time = real_time
pkg = "prepay_id=" + (prepay_id or "wx201410272009395522657a690389285100")
cases.append({
    "name": "wechatpayv3 JSAPI paySign", "kind": "wechatpay_jsapi", "key_pem": M["merchant_private_key_pem"],
    "appid": M["appid"], "timestamp": "1414561699", "nonce": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", "package": pkg,
    "sdk": wx.sign([M["appid"], "1414561699", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", pkg]),
})
json.dump({"cases": cases}, open(CASES_OUT, "w"), ensure_ascii=False)

server.shutdown()
open(COUNTS_OUT, "w").write(f"{PASSED} {FAILED}\n")
print(f"wechatpayv3: {PASSED} passed, {FAILED} failed")
sys.exit(1 if FAILED else 0)
