"""read_image: every malformed input raises InvalidImageError with a reason; valid inputs convert exactly."""

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from explainendo.errors import ExplainendoError, InvalidImageError
from explainendo.io import read_image, read_image_size


def _png_bytes(arr, mode=None, **save):
    buf = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(buf, format="PNG", **save) if mode else Image.fromarray(arr).save(buf, format="PNG", **save)
    return buf.getvalue()


def _jpeg_bytes(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


RGB = (np.arange(32 * 32 * 3) % 251).astype(np.uint8).reshape(32, 32, 3)


def _bad_files(tmp):
    """(name, path-or-object, extra kwargs) for the malformed corpus: files first, then in-memory inputs."""
    jpg, png = _jpeg_bytes(RGB), _png_bytes(RGB)
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("a.txt", "hello")
    files = {
        "missing.jpg": None,
        "empty.jpg": b"",
        "text.jpg": b"this is not an image\n" * 10,
        "html.png": b"<html><body>404 not found</body></html>",
        "random.png": np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "truncated.jpg": jpg[: len(jpg) // 2],
        "truncated.png": png[: len(png) // 2],
        "header_only.jpg": jpg[:20],
        "header_only.png": png[:33],
        "soi_garbage.jpg": b"\xff\xd8\xff\xe0" + b"\x00" * 200,
        "png_bad_idat.png": png[:60] + bytes(len(png) - 80) + png[-20:],
        "zip_renamed.jpg": zbuf.getvalue(),
        "gif_truncated.gif": b"GIF89a\x20\x00\x20\x00\x80\x00\x00",
        "bmp_truncated.bmp": b"BM" + (54 + 32 * 32 * 3).to_bytes(4, "little") + b"\x00" * 30,
    }
    cases = []
    for name, data in files.items():
        p = tmp / name
        if data is not None:
            p.write_bytes(data)
        cases.append((name, p, {}))
    (tmp / "a_directory").mkdir()
    cases.append(("directory", tmp / "a_directory", {}))
    tiny = tmp / "tiny.png"
    tiny.write_bytes(_png_bytes(RGB[:4, :4]))
    cases.append(("too_small", tiny, {"min_size": 8}))
    bomb = tmp / "bomb.png"
    Image.new("L", (3000, 3000)).save(bomb)  # tiny file, 9 Mpx
    cases.append(("decompression_bomb", bomb, {"max_pixels": 1_000_000}))
    cases += [
        ("bytes_empty", b"", {}),
        ("bytes_garbage", b"\x00\x01\x02" * 100, {}),
        ("nan_array", np.full((16, 16, 3), np.nan), {}),
        ("inf_array", np.full((16, 16, 3), np.inf), {}),
        ("ndim4", np.zeros((2, 16, 16, 3), np.uint8), {}),
        ("ndim1", np.zeros(64, np.uint8), {}),
        ("two_channels", np.zeros((16, 16, 2), np.uint8), {}),
        ("five_channels", np.zeros((16, 16, 5), np.uint8), {}),
        ("channels_first", np.zeros((3, 16, 16), np.uint8), {}),
        ("negative_floats", -np.ones((16, 16, 3)), {}),
        ("floats_above_255", np.full((16, 16, 3), 300.0), {}),
        ("int32_above_255", np.full((16, 16, 3), 1000, np.int32), {}),
        ("empty_array", np.zeros((0, 0, 3), np.uint8), {}),
        ("complex_dtype", np.zeros((16, 16, 3), np.complex64), {}),
        ("tiny_array", np.zeros((2, 2, 3), np.uint8), {}),
        ("unsupported_type_int", 42, {}),
        ("unsupported_type_list", [[1, 2], [3, 4]], {}),
    ]
    return cases


def test_malformed_corpus_all_raise_typed_errors(tmp_path):
    cases = _bad_files(tmp_path)
    assert len(cases) >= 25
    for name, source, kw in cases:
        with pytest.raises(InvalidImageError) as info:
            read_image(source, **kw)
        err = info.value
        assert isinstance(err, ExplainendoError) and isinstance(err, ValueError), name
        assert err.reason, name  # every error says what is wrong
        if isinstance(source, type(tmp_path)):
            assert source.name in str(err), f"{name}: message must name the file: {err}"


def test_specific_reasons(tmp_path):
    p = tmp_path / "x.jpg"
    with pytest.raises(InvalidImageError, match="not found"):
        read_image(p)
    p.write_bytes(b"")
    with pytest.raises(InvalidImageError, match="zero bytes"):
        read_image(p)
    with pytest.raises(InvalidImageError, match="directory"):
        read_image(tmp_path)
    with pytest.raises(InvalidImageError, match="NaN"):
        read_image(np.array([[np.nan] * 16] * 16))
    bomb = tmp_path / "bomb.png"
    Image.new("L", (2000, 2000)).save(bomb)
    with pytest.raises(InvalidImageError, match="max_pixels"):
        read_image(bomb, max_pixels=1000)
    assert read_image(bomb).shape == (2000, 2000, 3)  # default limit accepts it


def _check_rgb(a, shape):
    assert isinstance(a, np.ndarray) and type(a) is np.ndarray
    assert a.dtype == np.uint8 and a.shape == shape and a.flags["C_CONTIGUOUS"]


def test_formats_convert_to_rgb(tmp_path):
    grey = (np.arange(16 * 20) % 256).astype(np.uint8).reshape(16, 20)
    p = tmp_path / "grey.png"
    Image.fromarray(grey).save(p)
    a = read_image(p)
    _check_rgb(a, (16, 20, 3))
    assert (a[..., 0] == grey).all() and (a[..., 2] == grey).all()

    rgba = np.dstack([RGB, np.full((32, 32), 128, np.uint8)])
    p = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(p)
    _check_rgb(read_image(p), (32, 32, 3))

    pal = Image.fromarray(RGB).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    p = tmp_path / "pal.png"
    pal.save(p)
    np.testing.assert_array_equal(read_image(p), np.asarray(pal.convert("RGB")))

    # 16-bit greyscale: 65535 -> 255, 257*100 -> 100 (scale by 1/257)
    g16 = np.array([[0, 257 * 100, 65535] * 4] * 12, dtype=np.uint16)
    p = tmp_path / "g16.png"
    Image.fromarray(g16).save(p)
    a = read_image(p)
    _check_rgb(a, (12, 12, 3))
    assert a[0, 0, 0] == 0 and a[0, 1, 0] == 100 and a[0, 2, 1] == 255

    cmyk = Image.fromarray(RGB).convert("CMYK")
    p = tmp_path / "cmyk.jpg"
    cmyk.save(p, quality=95)
    a = read_image(p)
    _check_rgb(a, (32, 32, 3))
    assert np.abs(a.astype(int) - RGB.astype(int)).mean() < 20  # lossy, but the same picture


def test_exif_orientation_applied_and_metadata_dropped(tmp_path):
    img = Image.fromarray(np.zeros((10, 30, 3), np.uint8))  # 30 wide, 10 high
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 CW on display
    exif[0x010F] = "ScopeMaker"
    p = tmp_path / "rot.jpg"
    img.save(p, exif=exif.tobytes())
    a = read_image(p)
    assert a.shape == (30, 10, 3)  # displayed upright
    assert read_image_size(p) == (10, 30)
    assert not hasattr(a, "info")


def test_array_and_other_sources():
    f01 = np.linspace(0, 1, 16 * 16 * 3).reshape(16, 16, 3)
    a = read_image(f01)
    _check_rgb(a, (16, 16, 3))
    assert a.max() == 255 and a.min() == 0
    a255 = read_image(f01 * 255.0)
    np.testing.assert_array_equal(a, a255)
    u16 = np.full((16, 16), 65535, np.uint16)
    assert (read_image(u16) == 255).all()
    assert (read_image(np.ones((16, 16), bool)) == 255).all()
    _check_rgb(read_image(np.zeros((16, 16, 1), np.uint8)), (16, 16, 3))
    _check_rgb(read_image(np.zeros((16, 16, 4), np.uint8)), (16, 16, 3))
    np.testing.assert_array_equal(read_image(Image.fromarray(RGB)), RGB)
    np.testing.assert_array_equal(read_image(_png_bytes(RGB)), RGB)
    # non-contiguous input comes back contiguous
    _check_rgb(read_image(RGB[:, ::-1]), (32, 32, 3))


def test_real_jpeg_from_shared_data(shared_data):
    p = next((shared_data / "kvasir-seg-256" / "images").glob("*.jpg"))
    _check_rgb(read_image(p), (256, 256, 3))


def test_broken_file_is_a_typed_error_even_after_ultralytics_patches_pillow(tmp_path):
    # ultralytics wraps PIL.Image.open and, on an unidentified file, tries to import pi-heif
    import ultralytics.utils.patches  # noqa: F401  (applies the patch)
    from PIL import Image

    assert Image.open.__module__.startswith("ultralytics")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG broken")
    with pytest.raises(InvalidImageError, match="broken.png"):
        read_image(broken)


# ---- as_rgb_uint8: the one dtype / shape rule every part of the library uses ---------------------------

def test_as_rgb_uint8_uint8_is_kept_and_comes_back_contiguous():
    from explainendo.io import as_rgb_uint8

    out = as_rgb_uint8(RGB[:, ::-1])
    _check_rgb(out, (32, 32, 3))
    np.testing.assert_array_equal(out, RGB[:, ::-1])
    assert as_rgb_uint8(RGB) is RGB  # already right: no copy


def test_as_rgb_uint8_uint16_is_scaled_by_255_over_65535_and_rounded():
    from explainendo.io import as_rgb_uint8

    u16 = np.array([[0, 128, 129, 257 * 100, 257 * 100 + 128, 257 * 100 + 129, 65535, 65534]], np.uint16)
    out = as_rgb_uint8(u16)
    assert out[0, :, 0].tolist() == [0, 0, 1, 100, 100, 101, 255, 255]
    np.testing.assert_array_equal(out[0, :, 0], np.rint(u16[0].astype(float) * 255 / 65535))


def test_as_rgb_uint8_bool_and_other_integers():
    from explainendo.io import as_rgb_uint8

    assert as_rgb_uint8(np.array([[True, False]]))[0, :, 0].tolist() == [255, 0]
    assert as_rgb_uint8(np.array([[0, 7, 255]], np.int64))[0, :, 1].tolist() == [0, 7, 255]
    with pytest.raises(InvalidImageError, match="outside \\[0, 255\\]"):
        as_rgb_uint8(np.array([[0, 256]], np.int32))
    with pytest.raises(InvalidImageError, match="outside \\[0, 255\\]"):
        as_rgb_uint8(np.array([[-1, 3]], np.int16))


def test_as_rgb_uint8_float_scale_is_0_1_up_to_1_else_0_255():
    from explainendo.io import as_rgb_uint8

    assert as_rgb_uint8(np.array([[0.0, 0.5, 1.0]]))[0, :, 0].tolist() == [0, 128, 255]  # x 255, rounded
    assert as_rgb_uint8(np.array([[0.0, 1.0, 1.5, 254.6, 255.0]], np.float32))[0, :, 0].tolist() == \
        [0, 1, 2, 255, 255]  # maximum above 1: the 8-bit scale
    assert as_rgb_uint8(np.array([[0.2, 0.4]], np.float16))[0, :, 0].tolist() == [51, 102]
    for bad, reason in ((np.nan, "NaN"), (np.inf, "NaN or inf"), (-0.1, "negative"), (255.5, "exceed 255")):
        with pytest.raises(InvalidImageError, match=reason):
            as_rgb_uint8(np.array([[0.5, bad]]))


def test_as_rgb_uint8_shapes_grey_alpha_and_refusals_name_the_source():
    from explainendo.io import as_rgb_uint8

    grey = np.array([[10, 20]], np.uint8)
    for g in (grey, grey[..., None]):
        out = as_rgb_uint8(g)
        assert out.shape == (1, 2, 3) and (out == grey[..., None]).all()
    rgba = np.dstack([RGB, np.zeros((32, 32), np.uint8)])
    np.testing.assert_array_equal(as_rgb_uint8(rgba), RGB)  # alpha dropped, colours untouched
    for bad, reason in ((np.zeros((0, 4, 3), np.uint8), "empty"), (np.zeros((4, 4, 2), np.uint8), "shape"),
                        (np.zeros(5, np.uint8), "shape"), (np.zeros((2, 2, 3), np.complex64), "dtype"),
                        (np.array([["a", "b"]]), "dtype"), ([[1, 2], [3]], "not an array")):
        with pytest.raises(InvalidImageError, match=reason) as info:
            as_rgb_uint8(bad, source="crop 7 of frame.png")
        assert str(info.value).startswith("'crop 7 of frame.png': ")
    with pytest.raises(InvalidImageError, match="shape=\\(0, 4, 3\\)"):  # default source: the array itself
        as_rgb_uint8(np.zeros((0, 4, 3), np.uint8))


def test_every_array_consumer_reads_dtypes_by_the_same_rule():
    # read_image, the handcrafted features and the CNN heads' tensors agree pixel for pixel
    from explainendo.handcrafted.base import PreparedCrop
    from explainendo.heads.attribute_heads import images_to_tensor
    from explainendo.io import as_rgb_uint8

    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    for variant in (base, base.astype(np.uint16) * 257, base / 255.0, base.astype(np.float32),
                    base.astype(np.int64)):
        np.testing.assert_array_equal(as_rgb_uint8(variant), base)
        np.testing.assert_array_equal(read_image(variant), base)
        np.testing.assert_allclose(PreparedCrop(variant, max_color_pixels=10 ** 6).color_pixels,
                                   base.reshape(-1, 3) / 255, atol=1e-6)  # same scale, own precision
        tensor, bad = images_to_tensor([variant], 16)
        assert bad == []
        np.testing.assert_array_equal(tensor[0].permute(1, 2, 0).numpy(), base)
    tensor, bad = images_to_tensor([base, np.full((4, 4, 3), np.nan), np.zeros((0, 3, 3)), None, base], 16)
    assert bad == [1, 2, 3]


def test_resize_square_averages_when_a_side_shrinks_and_interpolates_when_it_only_grows():
    import cv2

    from explainendo.io import resize_square

    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    # 60 -> 32 and 40 -> 32: area averaging; a 2x2 block mean when the factor is exactly 2
    assert np.array_equal(resize_square(big, 32), cv2.resize(big, (32, 32), interpolation=cv2.INTER_AREA))
    even = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    by_hand = even.reshape(32, 2, 32, 2, 3).astype(float).mean(axis=(1, 3))
    assert np.abs(resize_square(even, 32).astype(float) - by_hand).max() <= 0.5 + 1e-9
    # one side shrinks (60 -> 50), one grows (40 -> 50): still averaged, no aliasing on the shrinking side
    assert np.array_equal(resize_square(big, 50), cv2.resize(big, (50, 50), interpolation=cv2.INTER_AREA))
    small = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert np.array_equal(resize_square(small, 64), cv2.resize(small, (64, 64), interpolation=cv2.INTER_LINEAR))
    assert resize_square(small, 64).shape == (64, 64, 3)
