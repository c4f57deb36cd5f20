"""Vision preprocessing matches open_clip's eval transform; tokens are taken before ln_post."""
import numpy as np
import pytest
import torch
from model_examples import make_image
from open_clip.transform import image_transform
from PIL import Image

from deer_ros.model.config import VisionConfig
from deer_ros.model.vision import (VisionEncoder, normalisation, preprocess, preprocess_batch,
                                   upload)


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
    lnd = x.transpose(0, 1)                      # open_clip <= 2.22 (DeeR): sequence first
    for block in visual.transformer.resblocks:
        lnd = block(lnd)
    expected = lnd.transpose(0, 1)[:, 1:]
    assert torch.equal(tokens, expected)
    assert not torch.allclose(tokens, visual.ln_post(expected))


def test_normalisation_constants_are_made_once_per_device():
    cfg = VisionConfig()
    mean, std = normalisation(cfg.mean, cfg.std, torch.device('cpu'))
    assert normalisation(cfg.mean, cfg.std, torch.device('cpu'))[0] is mean     # not per frame
    assert torch.equal(mean.flatten(), torch.tensor(cfg.mean))
    assert torch.equal(std.flatten(), torch.tensor(cfg.std))
    with torch.inference_mode():                   # first made inside inference mode ...
        normalisation((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), torch.device('cpu'))
    shared = normalisation((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), torch.device('cpu'))[0]
    assert not shared.is_inference()               # ... still usable by training code


def test_upload_keeps_pixels_and_accepts_read_only_images():
    images = [make_image(1, 40), make_image(2, 40)]
    images[1].flags.writeable = False              # e.g. a view of a ROS message buffer
    batch = upload(images, torch.device('cpu'))
    assert batch.shape == (2, 40, 40, 3) and batch.dtype == torch.uint8
    assert np.array_equal(batch.numpy(), np.stack(images))


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason='pinned host memory and its asynchronous upload need a CUDA device')
def test_pinned_cuda_upload_equals_the_cpu_batch():
    images = [make_image(3, 40), make_image(4, 40)]
    on_device = upload(images, torch.device('cuda'))
    assert on_device.is_cuda and np.array_equal(on_device.cpu().numpy(), np.stack(images))
    cfg = VisionConfig(image_size=32)
    level = 1 / 255 / min(cfg.std)      # CPU resizes with the uint8 kernel, CUDA in float
    torch.testing.assert_close(preprocess_batch(images, cfg, torch.device('cuda')).cpu(),
                               preprocess_batch(images, cfg), atol=level * 1.01, rtol=0)
