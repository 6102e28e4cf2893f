"""A bot's side of the node protocol with the websocket library discodo's
own Python client uses (websockets, legacy client API, default limits:
frames over 1 MiB close the connection), parsing RESUMED as discodo's
client does. Run by TestPythonWebsocketsClient; prints one JSON line of
findings and exits 0, or raises.

usage: pyclient.py <ws url> <http url> <password> <resumed form>
"""
import asyncio
import json
import sys
import time
import urllib.request

import websockets

WS, HTTP, PASSWORD, FORM = sys.argv[1:5]
USER, GUILD, CHANNEL = 852400327470727179, 852400327470727180, 852400327470727181


async def recv_op(ws, op):
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), timeout=5))
        if msg["op"] == op:
            return msg.get("d")


def rest(method, path, body, headers):
    req = urllib.request.Request(HTTP + path, method=method, data=json.dumps(body).encode())
    req.add_header("Authorization", PASSWORD)
    req.add_header("Content-Type", "text/plain")  # as discodo.js posts JSON
    for k, v in headers.items():
        req.add_header(k, v)
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.status, json.loads(resp.read() or b"null")


async def main():
    found = {}
    # connect() with extra_headers, as discodo.client.gateway does
    async with websockets.connect(WS, extra_headers={"Authorization": PASSWORD}) as ws:
        hello = await recv_op(ws, "HELLO")
        found["interval"] = hello["heartbeat_interval"]
        stamp = int(time.time() * 1000)
        await ws.send(json.dumps({"op": "HEARTBEAT", "d": stamp}))
        found["ack_equal"] = (await recv_op(ws, "HEARTBEAT_ACK")) == stamp
        await ws.send(json.dumps({"op": "IDENTIFY", "d": {"user_id": USER, "shard_id": None}}))
        found["identified"] = await recv_op(ws, "IDENTIFIED")
        await ws.send(json.dumps({"op": "DISCORD_EVENT", "d": {"op": 0, "t": "VOICE_STATE_UPDATE", "s": 3, "d": {
            "guild_id": str(GUILD), "channel_id": str(CHANNEL), "user_id": str(USER), "session_id": "abc"}}}))
        created = await recv_op(ws, "VC_CREATED")
        vc_id = created["id"]

        # Fill the queue close to its byte cap, then read it back on the
        # websocket: the frame must stay under websockets' 1 MiB max_size.
        headers = {"User-ID": str(USER), "Guild-ID": str(GUILD), "VoiceClient-ID": vc_id}
        batch = [{"url": "http://127.0.0.1:9/%d.opus" % i, "title": "t" * 900, "description": "d" * 3000} for i in range(40)]
        puts = 0
        while True:
            try:
                status, _ = rest("POST", "/putSource", {"source": batch}, headers)
            except urllib.error.HTTPError as e:
                found["cap_status"] = e.code
                break
            puts += 1
        await ws.send(json.dumps({"op": "getQueue", "d": {"guild_id": str(GUILD)}}))
        q = await recv_op(ws, "getQueue")
        found["queued"] = len(q["entries"])
        found["puts"] = puts

    async with websockets.connect(WS, extra_headers={"Authorization": PASSWORD}) as ws:
        await recv_op(ws, "HELLO")
        await ws.send(json.dumps({"op": "IDENTIFY", "d": {"user_id": USER}}))
        await recv_op(ws, "IDENTIFIED")
        data = await recv_op(ws, "RESUMED")
        if FORM == "discodo3":
            # discodo.client.DPYClient.NodeClient.onResumed
            for guild_id, vc_data in data["voice_clients"].items():
                found["resumed"] = [str(int(guild_id)), str(int(vc_data["channel"])), vc_data["id"] == vc_id]
        else:
            for guild_id, channel_id in data["voice_clients"]:
                found["resumed"] = [str(int(guild_id)), str(int(channel_id))]
    print(json.dumps(found))


asyncio.run(main())
