"""The gallery page in a real browser (Debian's headless Chromium, installed by the setup): served on localhost, it
loads with no console errors, and every clip it shows plays as H.264 with an AAC sound track the browser decodes.
A screenshot of the page is saved (``gallery.png`` in the test's folder)."""
import functools
import json
import http.server
import shutil
import subprocess
import threading

import pytest

from duetto.joint.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium here (.ci/setup.sh installs Debian's package)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

CHECK = """<!doctype html><html><body><div id="r">pending</div><script>
// The checks post their result to the test's server; the page's load event (after which --dump-dom returns)
// waits on an image the server gives only once the result is in: real time, however busy the machine.
function get(url, type) {
  return new Promise(ok => { const x = new XMLHttpRequest(); x.open("GET", url); x.responseType = type;
                             x.onload = () => ok(x.response); x.onerror = () => ok(null); x.send(); });
}
function sound(src) {
  return get(src, "arraybuffer").then(buf => new OfflineAudioContext(1, 16000, 16000).decodeAudioData(buf))
    .then(b => b.duration.toFixed(2) + "s", () => "error");
}
function picture(src) {
  return new Promise(ok => { const v = document.createElement("video"); v.muted = true;
    v.onloadeddata = () => ok(v.videoWidth + "x" + v.videoHeight); v.onerror = () => ok("error");
    document.body.appendChild(v); v.src = src; });
}
function image(src) {
  return new Promise(ok => { const im = new Image(); im.onload = () => ok(im.naturalWidth > 0);
                             im.onerror = () => ok(false); im.src = src; });
}
get("index.html", "text").then(text => {
  const page = new DOMParser().parseFromString(text, "text/html");
  const srcs = [...page.querySelectorAll("video source")].map(s => s.getAttribute("src"));
  const imgs = [...page.querySelectorAll("img")].map(i => i.getAttribute("src"));
  return Promise.all([Promise.all(imgs.map(image)), Promise.all(srcs.map(picture)), Promise.all(srcs.map(sound))])
    .then(([im, pic, snd]) => {
      const result = ["videos=" + srcs.length, "images_ok=" + im.filter(x => x).length + "/" + im.length,
                      ...srcs.map((s, i) => s + ":" + pic[i] + ":" + snd[i])].join(" | ");
      document.getElementById("r").textContent = result;
      const x = new XMLHttpRequest(); x.open("POST", "result"); x.send(result);
    });
});
</script><img src="wait" alt=""></body></html>"""


def browse(site, tmp_path) -> tuple[list[str], str]:
    """Serve ``site`` (a gallery folder; ``check.html`` is added to it), let Chromium play every clip of its
    ``index.html`` and screenshot the page: (the check's result parts, Chromium's console lines)."""
    (site / "check.html").write_text(CHECK)
    got, result = threading.Event(), []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):                                       # the check page's result
            result.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
            got.set()
            self.send_response(204)
            self.end_headers()

        def do_GET(self):
            if self.path.endswith("/wait"):                      # held until the result is in
                got.wait(90)
                gif = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.send_header("Content-Length", str(len(gif)))
                self.end_headers()
                self.wfile.write(gif)
                return
            super().do_GET()
    handler = functools.partial(Handler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        r = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
                            "--dump-dom", f"{url}/check.html"], capture_output=True, text=True, timeout=120)
        shot = tmp_path / "gallery.png"                   # the page itself, rendered: its console must stay clean
        page = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile2'}", f"--screenshot={shot}",
                               "--enable-logging=stderr", "--window-size=1000,1400", f"{url}/index.html"],
                              capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
    assert result, r.stderr[-2000:]
    assert shot.read_bytes()[:4] == b"\x89PNG"
    console = [line for line in (r.stderr + page.stderr).splitlines() if "CONSOLE" in line or "Uncaught" in line]
    if "Failed to load resource" in page.stderr:
        console.append("Failed to load resource")
    return result[0].split(" | "), console


def _plays(parts: list[str], n: int):
    assert parts[:2] == [f"videos={n}", f"images_ok={n}/{n}"], parts
    for p in parts[2:]:
        src, shown, sound = p.split(":")
        w, _, h = shown.partition("x")
        assert w.isdigit() and int(w) > 0 and h.isdigit() and int(h) > 0, p              # the picture decodes
        assert sound.endswith("s") and float(sound[:-1]) > 0.5, p                         # and so does the sound


def test_the_gallery_plays_in_chromium(micro_bundle, tmp_path):
    site = tmp_path / "gallery"
    assert main(["gallery", "--out", str(site), "--checkpoint", str(micro_bundle), "--quiet"]) == 0
    parts, console = browse(site, tmp_path)
    _plays(parts, 3)
    assert not console, console


def test_the_shipped_gallery_plays_in_chromium(tmp_path):
    """samples/gallery: the shipped model's clips from prompts it never trained on, each checked by duetto-sync
    when it was made (scripts: recipes/gallery.sh); served from a copy, so the test adds nothing to the repo."""
    from pathlib import Path
    shipped = Path(__file__).resolve().parents[2] / "samples" / "gallery"
    meta = json.loads((shipped / "gallery.json").read_text())
    site = tmp_path / "site"
    shutil.copytree(shipped, site)
    parts, console = browse(site, tmp_path)
    _plays(parts, len(meta["clips"]))
    assert not console, console
