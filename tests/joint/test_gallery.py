"""`duetto gallery`: clips from unseen prompts, each checked, laid out as a page that points at real files."""
import json
import re

from duetto.data import probe
from duetto.joint.cli import main
from duetto.joint.gallery import prompts


def test_prompts_cover_every_family_with_words_and_a_music_reference():
    ps = prompts(1)
    assert [p["family"] for p in ps] == ["impacts", "music", "speech"]
    assert ps[2]["speech"] and f'"{ps[2]["speech"]}"' in ps[2]["caption"]        # the words the caption quotes
    assert ps[1]["music"] is not None and ps[1]["music"].shape[-1] > 16000 and ps[0]["music"] is None


def test_gallery_page_points_at_playable_clips_with_verdicts(micro_bundle, tmp_path, capsys):
    out = tmp_path / "gallery"
    assert main(["gallery", "--out", str(out), "--checkpoint", str(micro_bundle), "--quiet"]) == 0
    info = json.loads((out / "gallery.json").read_text())
    page = (out / "index.html").read_text()
    assert len(info["clips"]) == 3
    for c in info["clips"]:
        pr = probe(out / c["video"])
        assert pr.duration > 0.5 and pr.sample_rate and pr.video_codec == "h264"     # picture and sound
        assert (out / c["plot"]).read_bytes()[:4] == b"\x89PNG"
        assert c["verdict"] in ("pass", "fail", "no-signal") and c["video"] in page and c["plot"] in page
    assert len(re.findall(r"<video ", page)) == 3 and "&lt;" not in info["clips"][0]["prompt"]
    assert main(["gallery", "--out", str(out), "--checkpoint", str(micro_bundle)]) == 2     # not over an old one
    assert "already holds a gallery" in capsys.readouterr().err
