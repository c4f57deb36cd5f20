"""Vision preprocessing matches open_clip's eval transform; tokens are taken before ln_post."""
import numpy as np
import pytest
import torch
from model_examples import make_image
from open_clip.transform import image_transform
from PIL import Image

from deer_ros.model.config import VisionConfig
from deer_ros.model.vision import VisionEncoder, preprocess


@pytest.mark.parametrize('shape', [(200, 200), (84, 84), (120, 90), (30, 50)])
def test_preprocess_matches_open_clip_eval_transform(shape):
    cfg = VisionConfig(image_size=64)
    image = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    ours = preprocess(image, cfg)[0]
    theirs = image_transform(64, is_train=False)(Image.fromarray(image))
    diff = (ours - theirs).abs()
    # PIL's fixed-point bicubic and ours differ by at most one uint8 level (1/255/std)
    assert diff.mean() < 1e-3 and diff.max() < 0.016


def test_patch_tokens_are_pre_ln_post_without_cls():
    cfg = VisionConfig(image_size=32, patch_size=8, width=64, layers=2, head_width=32,
                       embed_dim=32)
    torch.manual_seed(0)
    encoder = VisionEncoder(cfg).eval()
    pixels = preprocess(make_image(3), cfg)
    tokens = encoder(pixels)
    assert tokens.shape == (1, cfg.num_patches, cfg.width)
    visual = encoder.visual
    x = visual.conv1(pixels).flatten(2).transpose(1, 2)
    cls = visual.class_embedding.expand(1, 1, -1)
    x = visual.ln_pre(torch.cat([cls, x], dim=1) + visual.positional_embedding)
    expected = visual.transformer(x)[:, 1:]
    torch.testing.assert_close(tokens, expected)
    assert not torch.allclose(tokens, visual.ln_post(expected))
