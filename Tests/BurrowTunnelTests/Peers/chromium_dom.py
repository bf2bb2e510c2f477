#!/usr/bin/env python3
"""Loads a page in headless Chromium (Debian's `chromium`) and prints its DOM once the page
says it is done, for the tunnel tests.

    chromium_dom.py URL PROFILE_DIR [--until EXPRESSION] [--screenshot FILE.png] [--timeout SECONDS]

`--dump-dom` dumps at the load event, before a page's WebSocket has answered; this waits for
the page instead: it drives Chromium over the DevTools protocol (python3-websockets), loads URL,
waits until EXPRESSION holds (by default `document.body.dataset.done !== undefined`, set by the
page on its last event; no polling, a MutationObserver), then prints
`document.documentElement.outerHTML`, and with --screenshot writes what the page shows (1280
pixels wide) as a PNG, as `--screenshot` would. Exits 1 with a line on stderr if that takes
over 30 s (or --timeout). Chromium's profile goes to PROFILE_DIR; Chromium ends with us.
"""
import argparse
import asyncio
import base64
import json
import subprocess
import sys
import threading

import websockets

WAIT_FOR = """new Promise(resolve => {
  const done = () => document.body && (UNTIL);
  if (done()) return resolve(true);
  new MutationObserver(() => { if (done()) resolve(true); })
    .observe(document.documentElement, {attributes: true, subtree: true, childList: true});
})"""


class DevTools:
    """One DevTools connection: commands answered by id, events queued by method."""

    def __init__(self, socket):
        self.socket, self.next_id, self.answers, self.events = socket, 0, {}, {}

    async def read(self):
        async for text in self.socket:
            message = json.loads(text)
            if "id" in message:
                self.answers.pop(message["id"]).set_result(message)
            else:
                self.events.setdefault(message["method"], asyncio.Queue()).put_nowait(message)

    async def call(self, method, session=None, **params):
        self.next_id += 1
        answer = asyncio.get_running_loop().create_future()
        self.answers[self.next_id] = answer
        command = {"id": self.next_id, "method": method, "params": params}
        if session:
            command["sessionId"] = session
        await self.socket.send(json.dumps(command))
        message = await answer
        if "error" in message:
            raise RuntimeError(f"{method}: {message['error']}")
        return message["result"]

    async def event(self, method):
        return await self.events.setdefault(method, asyncio.Queue()).get()


async def dom(url, profile, until, screenshot):
    chromium = subprocess.Popen(
        ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        # Chromium names its DevTools endpoint on stderr once it listens.
        endpoint = None
        for line in chromium.stderr:
            if line.startswith("DevTools listening on "):
                endpoint = line.split(" on ", 1)[1].strip()
                break
        if endpoint is None:
            raise RuntimeError("chromium ended without a DevTools endpoint")
        # Chromium goes on logging (D-Bus, GPU): keep its pipe drained so it never blocks.
        threading.Thread(target=lambda: [None for _ in chromium.stderr], daemon=True).start()
        async with websockets.connect(endpoint, max_size=None) as socket:
            devtools = DevTools(socket)
            reader = asyncio.create_task(devtools.read())
            target = await devtools.call("Target.createTarget", url="about:blank")
            attached = await devtools.call("Target.attachToTarget", targetId=target["targetId"], flatten=True)
            session = attached["sessionId"]
            await devtools.call("Page.enable", session)
            await devtools.call("Emulation.setDeviceMetricsOverride", session, width=1280, height=720, deviceScaleFactor=1, mobile=False)
            await devtools.call("Page.navigate", session, url=url)
            await devtools.event("Page.loadEventFired")
            await devtools.call("Runtime.evaluate", session, expression=WAIT_FOR.replace("UNTIL", until), awaitPromise=True)
            result = await devtools.call("Runtime.evaluate", session, expression="document.documentElement.outerHTML")
            print(result["result"]["value"], flush=True)
            if screenshot:
                shot = await devtools.call("Page.captureScreenshot", session, format="png", captureBeyondViewport=True)
                with open(screenshot, "wb") as file:
                    file.write(base64.b64decode(shot["data"]))
            reader.cancel()
    finally:
        chromium.kill()
        chromium.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("profile")
    parser.add_argument("--until", default="document.body.dataset.done !== undefined")
    parser.add_argument("--screenshot")
    parser.add_argument("--timeout", type=float, default=30)
    arguments = parser.parse_args()
    try:
        asyncio.run(asyncio.wait_for(dom(arguments.url, arguments.profile, arguments.until, arguments.screenshot), arguments.timeout))
    except asyncio.TimeoutError:
        print(f"the page did not finish within {arguments.timeout:g} s", file=sys.stderr, flush=True)
        sys.exit(1)


main()
