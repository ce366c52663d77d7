import json

import pytest

from duetto.data.testsignals import click_flash_clip
from shard_utils import meta_bytes, raw_tar
from duetto.data import DuettoError, SchemaError, encode_clip
from duetto.data.schema import parse_meta
from duetto.data.shards import BadSample, Sample, ShardWriter, expand_shards, iter_shard


def test_writer_rolls_shards_and_reader_groups_members(tmp_path):
    with ShardWriter(tmp_path, prefix="s", max_count=2) as w:
        for i in range(5):
            w.write(f"k{i}", {"mp4": b"m" * i, "json": meta_bytes()})
    assert [p.name for p in w.paths] == ["s-000000.tar", "s-000001.tar", "s-000002.tar"]
    items = [x for p in w.paths for x in iter_shard(p)]
    assert [x.key for x in items] == [f"k{i}" for i in range(5)]
    assert all(isinstance(x, Sample) and x.files["mp4"] == b"m" * int(x.key[1]) for x in items)
    assert not list(tmp_path.glob(".*tmp*"))


def test_crash_while_writing_keeps_only_whole_shards(tmp_path):
    with pytest.raises(RuntimeError):
        with ShardWriter(tmp_path, max_count=2) as w:
            for i in range(3):
                w.write(f"k{i}", {"json": meta_bytes()})
            raise RuntimeError("crash")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shard-000000.tar"]


def test_writer_rejects_bad_keys(tmp_path):
    with ShardWriter(tmp_path) as w:
        with pytest.raises(ValueError, match="no '.'"):
            w.write("a.b", {"json": b"{}"})
        w.write("a", {"json": b"{}"})
        with pytest.raises(ValueError, match="duplicate"):
            w.write("a", {"json": b"{}"})


def test_reader_reports_missing_member_and_corrupt_tar(tmp_path):
    mp4 = encode_clip(click_flash_clip()[0])
    p = raw_tar(tmp_path / "a.tar", [("x.mp4", mp4), ("x.json", meta_bytes()), ("y.json", meta_bytes()),
                                     ("z.mp4", mp4), ("z.json", meta_bytes())])
    items = list(iter_shard(p))
    assert [type(i).__name__ for i in items] == ["Sample", "BadSample", "Sample"]
    assert items[1].reason == "missing_member" and "mp4" in items[1].detail
    data = p.read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: len(data) // 2])          # ends inside a member
    items = list(iter_shard(cut))
    assert isinstance(items[-1], BadSample) and items[-1].reason == "corrupt_tar"
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"\x00\x01not a tar" * 100)
    bad = list(iter_shard(garbage))
    assert len(bad) == 1 and bad[0].reason == "corrupt_tar"


def test_corrupt_header_is_a_bad_sample_not_a_crash(tmp_path):
    p = raw_tar(tmp_path / "a.tar", [("x.json", meta_bytes()), ("x.mp4", b"abc"), ("y.json", meta_bytes()),
                                     ("y.mp4", b"def")])
    data = bytearray(p.read_bytes())
    data[1024 + 148: 1024 + 156] = b"garbage!"       # checksum field of the second member's header
    p.write_bytes(bytes(data))
    items = list(iter_shard(p))
    assert any(isinstance(i, BadSample) and i.reason == "corrupt_tar" for i in items)


@pytest.mark.parametrize("raw, phrase", [
    (b"{not json", "invalid JSON"),
    (meta_bytes(caption=None), "missing field(s) caption"),
    (meta_bytes(fps=None, duration=None), "missing field(s) fps, duration"),
    (meta_bytes(fps="25"), "field fps has the wrong type"),
    (meta_bytes(fps=-1), "out of range"),
    (json.dumps([1, 2]).encode(), "must be a JSON object"),
    (b"\xff\xfe", "not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b" " * (2 << 20), "larger than"),
    (meta_bytes(events=5), "events must be a list"),
    (b'{"caption": "x", "fps": 25, "sample_rate": 16000, "duration": 2, "events": [{"time": NaN}]}', "finite"),
    (b'{"caption": "x", "fps": 25, "sample_rate": 16000, "duration": 1' + b"0" * 5000 + b"}", "unreadable JSON"),
    (b'{"caption": "x", "fps": Infinity, "sample_rate": 16000, "duration": 2}', "not finite"),
])
def test_metadata_errors_name_the_problem(raw, phrase):
    with pytest.raises(SchemaError, match=phrase.replace("(", r"\(").replace(")", r"\)")):
        parse_meta(raw, "k.json")


def test_expand_shards(tmp_path):
    raw_tar(tmp_path / "a.tar", [("x.json", meta_bytes())])
    raw_tar(tmp_path / "b.tar", [("x.json", meta_bytes())])
    assert len(expand_shards([tmp_path])) == 2
    assert len(expand_shards([str(tmp_path / "*.tar")])) == 2
    with pytest.raises(DuettoError, match="no such shard"):
        expand_shards([tmp_path / "nope.tar"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DuettoError, match="no .tar shards"):
        expand_shards([tmp_path / "empty"])
