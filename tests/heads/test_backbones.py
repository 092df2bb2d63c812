import numpy as np
import pytest
import torch

from explainendo.errors import ConfigError, ModelFileError
from explainendo.heads import create_backbone, imagenet_classifier, list_backbones


def _imagenet_input(image: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    return torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", antialias=True)


def test_efficientnet_lite0_imagenet_weights_are_mapped_correctly():
    """The packaged weights, mapped onto timm's layout, label a cat a cat and a cup of coffee espresso."""
    import skimage.data

    model = imagenet_classifier("efficientnet_lite0")
    with torch.no_grad():
        cat = model(_imagenet_input(skimage.data.chelsea())).argmax(1).item()
        coffee = model(_imagenet_input(skimage.data.coffee())).argmax(1).item()
    assert 281 <= cat <= 285  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    assert coffee == 967  # espresso


def test_registry_and_feature_shapes():
    assert {"efficientnet_lite0", "resnet18", "resnet50"} <= set(list_backbones())
    assert list_backbones("resnet*") == ["resnet18", "resnet50"]
    backbone = create_backbone("resnet18", pretrained=False).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert backbone(x).shape == (2, backbone.feature_dim) == (2, 512)
        assert backbone.features(x).shape[:2] == (2, 512)
    with pytest.raises(ConfigError, match="unknown backbone"):
        create_backbone("vgg99")


def test_preprocess_matches_the_weights_convention():
    lite = create_backbone("efficientnet_lite0", pretrained=False)
    x = torch.tensor([0.0, 0.5, 1.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    assert torch.allclose(lite.preprocess(x)[0, :, 0, 0], torch.tensor([-1.0, 0.0, 1.0]))
    resnet = create_backbone("resnet18", pretrained=False)
    assert torch.allclose(resnet.preprocess(torch.full((1, 3, 1, 1), 0.485))[0, 0], torch.zeros(1, 1))


def test_freeze_stages_freezes_parameters_and_batch_norm_statistics():
    backbone = create_backbone("efficientnet_lite0", pretrained=False, freeze_stages=2)
    assert len(backbone.stages) == 9
    assert not any(p.requires_grad for s in backbone.stages[:2] for p in s.parameters())
    assert all(p.requires_grad for s in backbone.stages[2:] for p in s.parameters())
    backbone.train()
    assert not backbone.stages[0].training and backbone.stages[2].training
    for bad in (-1, 10, 1.5):
        with pytest.raises(ConfigError, match="freeze_stages"):
            create_backbone("resnet18", pretrained=False, freeze_stages=bad)


def test_local_weight_file_is_loaded_and_bad_files_are_refused(tmp_path):
    torch.manual_seed(3)
    source = create_backbone("resnet18", pretrained=False)
    import torchvision

    full = torchvision.models.resnet18(weights=None)
    full.load_state_dict({**full.state_dict(), **{k: v for k, v in zip(
        [k for k in full.state_dict() if not k.startswith("fc.")], source.state_dict().values())}})
    torch.save(full.state_dict(), tmp_path / "r18.pth")
    loaded = create_backbone("resnet18", pretrained=tmp_path / "r18.pth")
    for a, b in zip(source.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match="cannot read"):
        create_backbone("resnet18", pretrained=tmp_path / "junk.pth")
    with pytest.raises(ModelFileError, match="not found"):
        create_backbone("resnet18", pretrained=tmp_path / "missing.pth")
    torch.save(full.state_dict(), tmp_path / "r18_for_r50.pth")
    with pytest.raises(ModelFileError):
        create_backbone("resnet50", pretrained=tmp_path / "r18_for_r50.pth")


def test_resnet_pretrained_true_never_downloads(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # an empty cache
    with pytest.raises(ConfigError, match="never downloads"):
        create_backbone("resnet50", pretrained=True)


def test_the_stage_table_matches_the_built_networks_and_heads_check_freeze_stages_before_training():
    from explainendo.heads import AttributeHeads
    from explainendo.heads.backbones import BACKBONE_STAGES

    assert set(BACKBONE_STAGES) == set(list_backbones())
    for name, stages in BACKBONE_STAGES.items():
        assert len(create_backbone(name, pretrained=False).stages) == stages
    AttributeHeads(backbone="resnet18", pretrained=False, freeze_stages=5).check_params()
    for bad in (-1, 6, 1.5, True):
        with pytest.raises(ConfigError, match="freeze_stages"):
            AttributeHeads(backbone="resnet18", pretrained=False, freeze_stages=bad).check_params()
