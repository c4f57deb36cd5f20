"""Real presets checked on the meta device (no weights): sizes match DeeR's published facts."""
import pytest
import torch

from deer_ros.model.build import preset_config
from deer_ros.model.card import exit_table
from deer_ros.model.config import DeerConfig, preset
from deer_ros.model.flamingo import DeerVLA


def _meta(name):
    with torch.device('meta'):
        return DeerVLA(preset_config(name))


def test_deer3b_parameter_counts_on_meta_device():
    model = _meta('deer-3b')
    count = lambda m: sum(p.numel() for p in m.parameters())   # noqa: E731
    assert count(model.blocks[0]) / 1e6 == pytest.approx(87.1, abs=0.1)   # MPT 50.3 + xattn 36.7
    assert count(model.extra_exit) / 1e6 == pytest.approx(40.9, abs=0.1)
    assert count(model.vision_encoder) / 1e6 == pytest.approx(304, abs=1)
    assert model.lang_encoder.transformer.wte.weight.shape == (50280, 2048)
    assert 'lang_encoder.transformer.blocks.11.gated_cross_attn_layer.attn.to_kv.weight' \
        in model.state_dict()
    rows = exit_table('deer-3b')
    assert rows[-1].llm_params / 1e9 == pytest.approx(1.15, abs=0.01)


def test_deer9b_has_cross_attention_every_fourth_layer():
    model = _meta('deer-9b')
    with_xattn = [i for i, b in enumerate(model.blocks) if b.gated_cross_attn_layer is not None]
    assert with_xattn == [3, 7, 11, 15]
    assert model.cfg.exit_layers == (1, 3, 5, 7, 9, 11, 13, 15)
    assert not hasattr(model.blocks[0].decoder_layer.attn, 'q_ln')


@pytest.mark.parametrize('name', ['tiny', 'small', 'deer-3b', 'deer-9b'])
def test_config_json_round_trip(name):
    cfg = preset_config(name)
    assert DeerConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.truncated(1).lm.n_layers == cfg.exit_layers[1] + 1


def test_unknown_config_fields_are_rejected():
    data = preset('tiny').to_dict()
    data['lm']['qk_layernorm'] = True
    with pytest.raises(ValueError, match='qk_layernorm'):
        DeerConfig.from_dict(data)


def test_mini2_xattn4_first_exit_sees_no_image_and_the_second_does():
    """The depth suite's preset: cross-attention only before layers 3, 7, 11 (issue 25)."""
    torch.manual_seed(0)
    model = DeerVLA(preset_config('mini2-xattn4')).eval()
    assert [i for i, b in enumerate(model.blocks) if b.gated_cross_attn_layer is not None] \
        == [3, 7, 11]
    ids = torch.tensor([[5, 7, 9, 11]])
    size = model.cfg.vision.image_size
    images = [torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(s))
              for s in (1, 2)]
    with torch.no_grad():
        a, b = (model(ids, 9, image, image) for image in images)
    first, second = model.cfg.exit_layers[:2]
    assert torch.equal(a[first], b[first])              # exit 0: instruction only
    assert not torch.allclose(a[second], b[second])     # exit 1: after layer 3's xattn
