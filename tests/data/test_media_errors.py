import pytest

from bad_inputs import make_bad_files
from duetto.data.testsignals import click_flash_clip
from duetto.data import MediaError, read_clip, write_clip


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    return make_bad_files(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("name", ["truncated", "no_audio", "no_video", "empty", "not_media", "missing"])
def test_bad_media_raises_one_line_error_naming_file_and_problem(bad, name):
    path, phrase = bad[name]
    with pytest.raises(MediaError) as e:
        read_clip(path)
    msg = str(e.value)
    assert str(path) in msg and phrase in msg and "\n" not in msg


def test_truncated_mdat_is_reported(tmp_path):
    """moov first (faststart-like bytes order does not matter): cut the tail of a long clip."""
    clip, _ = click_flash_clip(frames=200)
    path = write_clip(tmp_path / "x.mkv", clip)
    data = path.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(MediaError, match="truncated|corrupt|readable"):
        read_clip(cut)


def test_failed_write_leaves_nothing(tmp_path):
    clip, _ = click_flash_clip(size=63)          # odd size: H.264 refuses
    with pytest.raises(MediaError, match="even width and height"):
        write_clip(tmp_path / "odd.mp4", clip)
    assert list(tmp_path.iterdir()) == []
