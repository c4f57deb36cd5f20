"""Vision preprocessing matches open_clip's eval transform; tokens are taken before ln_post."""
import numpy as np
import pytest
import torch
from model_examples import make_image
from open_clip.transform import image_transform
from PIL import Image

from deer_ros.model.config import VisionConfig
from deer_ros.model.vision import VisionEncoder, preprocess


@pytest.mark.parametrize('shape', [(200, 200), (84, 84), (480, 640), (640, 480), (224, 224)])
def test_exact_transform_equals_open_clip_eval_transform_bit_for_bit(shape):
    cfg = VisionConfig(transform='pil')       # DeeR's: 224 px, CLIP mean/std
    image = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    theirs = image_transform(224, is_train=False)(Image.fromarray(image))
    assert torch.equal(preprocess(image, cfg)[0], theirs)
    assert torch.equal(preprocess(image, VisionConfig(), transform='pil')[0], theirs)


@pytest.mark.parametrize('shape', [(200, 200), (84, 84), (120, 90), (30, 50)])
def test_fast_transform_is_within_two_levels_of_open_clip(shape):
    cfg = VisionConfig(image_size=64, transform='torch')
    image = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    ours = preprocess(image, cfg)[0]
    theirs = image_transform(64, is_train=False)(Image.fromarray(image))
    levels = ((ours - theirs) * torch.tensor(cfg.std).view(3, 1, 1) * 255).abs().round()
    # torch's bicubic and PIL's fixed-point one differ by 1-2 uint8 levels on some pixels
    assert levels.max() <= 2 and levels.mean() < 0.5


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
