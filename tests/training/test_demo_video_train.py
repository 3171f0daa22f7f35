"""The demo video model's tokenizer and starting point, and a short training run whose folder loads as
a standard AnimateDiffPipeline (the motion modules inside its UNetMotionModel)."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest

from desktop.engine.diffusers_backend import vocabulary_notes
from desktop.engine.presets import DEMO_VIDEO_VOCABULARY
from desktop.engine.request import GenerationRequest
from desktop.training.demo_video.clips import VOCABULARY
from desktop.training.demo_video.train import build_models, build_tokenizer, image_demo_folder


def test_the_tokenizer_round_trips_and_knows_every_word_of_the_captions(tmp_path):
    from transformers import AutoTokenizer

    tokenizer = build_tokenizer()
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    text = "a Red circle moving to the left on a grey background"
    assert loaded(text).input_ids == tokenizer(text).input_ids
    ids = tokenizer(text).input_ids
    assert ids[0] == 0 and ids[-1] == 1 and tokenizer.unk_token_id not in ids
    assert tokenizer("grey").input_ids == tokenizer("gray").input_ids
    # The words the window lists are the ones the tokenizer knows.
    listed = {w for values in DEMO_VIDEO_VOCABULARY.values() for v in values for w in v.split()}
    assert listed - {"any", "of", "those", "colours"} <= set(VOCABULARY)


def test_unknown_words_get_a_note_and_known_ones_none():
    pipe = SimpleNamespace(tokenizer=build_tokenizer())
    unknown = GenerationRequest(prompt="a red sneaker spinning on a blue background", model="demo-video")
    notes = vocabulary_notes(pipe, unknown)
    assert len(notes) == 1 and "sneaker" in notes[0] and "spinning" in notes[0]
    known = GenerationRequest(prompt="A yellow square, moving left on a black background.", model="demo-video")
    assert vocabulary_notes(pipe, known) == []


def test_it_starts_from_the_image_demo_with_motion_modules_that_do_nothing_yet():
    import torch
    from transformers import AutoTokenizer, CLIPTextModel

    tokenizer = build_tokenizer()
    vae, text_encoder, unet = build_models(image_demo_folder(), tokenizer)
    assert unet.config.addition_embed_type is None and not any(p.requires_grad for p in vae.parameters())
    image_text = CLIPTextModel.from_pretrained(image_demo_folder() / "text_encoder")
    image_ids = AutoTokenizer.from_pretrained(image_demo_folder() / "tokenizer").get_vocab()
    for word in ("red", "circle", "background", "left"):
        new = text_encoder.get_input_embeddings().weight[tokenizer.get_vocab()[word]]
        assert torch.equal(new, image_text.get_input_embeddings().weight[image_ids[word]])
    # Zero-initialised motion modules: each frame is denoised on its own, so shuffling the frames
    # shuffles the prediction.
    torch.manual_seed(0)
    x = torch.randn(1, 4, 4, 16, 16)
    context = torch.randn(4, 16, 64)
    order = torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        out = unet(x, 500, encoder_hidden_states=context).sample
        shuffled = unet(x[:, :, order], 500, encoder_hidden_states=context[order]).sample
    assert torch.allclose(out[:, :, order], shuffled, atol=1e-5)


def test_paired_batches_must_be_even(capsys):
    from desktop.training.demo_video import train

    with pytest.raises(SystemExit):
        train.main(["--out", "unused", "--batch", "3", "--paired"])
    assert "--paired needs an even --batch (a clip and itself backwards): 3 is odd." in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.main(["--out", "unused", "--pair-difference", "4"])
    assert "--pair-difference works on a clip beside itself backwards: add --paired." in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.main(["--out", "unused", "--init", "unused", "--frame-code", "0.01"])
    assert "leave them out with --init." in capsys.readouterr().err


def self_attention_share(unet) -> float:
    """The mean weight a motion module's attention puts on a frame itself, from the frames' positions
    alone (1/16 = attending to the 16 frames alike)."""
    import torch

    shares = []
    for block in unet.modules():
        if type(block).__name__ == "BasicTransformerBlock" and block.pos_embed is not None:
            positions, attention = block.pos_embed.pe[0, :16], block.attn1
            q, k = (
                (positions @ w.T).view(16, attention.heads, -1).transpose(0, 1)
                for w in (attention.to_q.weight, attention.to_k.weight)
            )
            weights = torch.softmax(q @ k.transpose(1, 2) / q.shape[-1] ** 0.5, dim=-1).detach()
            shares.append(float(weights.diagonal(dim1=1, dim2=2).mean()))
    return sum(shares) / len(shares)


def test_local_attention_starts_the_motion_modules_on_nearby_frames():
    import torch

    torch.manual_seed(0)
    _, _, plain = build_models(image_demo_folder(), build_tokenizer())
    torch.manual_seed(0)
    _, _, local = build_models(image_demo_folder(), build_tokenizer(), local_attention=4.0)
    assert abs(self_attention_share(plain) - 1 / 16) < 0.01  # AnimateDiff's start: no frame knows its place
    assert self_attention_share(local) > 0.15
    block = next(m for m in local.modules() if type(m).__name__ == "BasicTransformerBlock" and m.pos_embed is not None)
    assert torch.equal(block.attn1.to_k.weight, block.attn1.to_q.weight) and block.pos_embed.pe.abs().max() == 4.0


def frame_spread(unet) -> float:
    """How much the UNet's prediction differs between the frames of a clip whose 16 frames are the
    same picture, relative to its size: zero where no layer knows which frame it is looking at."""
    import torch

    x = torch.randn(1, unet.config.in_channels, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    context = torch.randn(1, 77, unet.config.cross_attention_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = unet.eval()(x.repeat(1, 1, 16, 1, 1), torch.tensor([900]), encoder_hidden_states=context.repeat(16, 1, 1))
    out = out.sample
    return float((out - out.mean(2, keepdim=True)).std() / out.std())


def test_frame_code_lets_the_spatial_layers_tell_the_frames_apart_from_the_start():
    _, _, plain = build_models(image_demo_folder(), build_tokenizer())
    _, _, coded = build_models(image_demo_folder(), build_tokenizer(), local_attention=8.0, frame_code=0.01)
    assert frame_spread(plain) < 1e-5  # zero-initialised motion modules: every frame the same (to rounding)
    assert frame_spread(coded) > 0.05


@pytest.mark.filterwarnings("ignore")
def test_a_short_training_run_writes_an_animatediff_folder_that_diffusers_loads(tmp_path):
    import torch
    from diffusers import DiffusionPipeline

    from desktop.training.demo_video import train

    out = tmp_path / "demo-video"
    steps = ["--minutes", "1", "--max-steps", "3", "--batch", "2"]
    steps += ["--paired", "--shared-input", "--pair-difference", "4"]
    train.main(["--out", str(out), "--clips", "6", *steps, "--learn-positions", "--no-evaluate"])
    index = json.loads((out / "model_index.json").read_text())
    assert index["_class_name"] == "AnimateDiffPipeline"
    assert index["unet"] == ["diffusers", "UNetMotionModel"] and index["motion_adapter"] == [None, None]
    weights = sorted(p.parent.name for p in out.rglob("*") if p.suffix in (".safetensors", ".bin", ".pt", ".ckpt"))
    assert weights == ["text_encoder", "unet", "vae"] and all(p.suffix == ".safetensors" for p in out.rglob("*.s*"))
    figures = json.loads((out / "training.json").read_text())
    assert figures["steps"] == 3 and figures["clips"] == 6 and isinstance(figures["direction_gap"], float)
    assert figures["shared_input"] and figures["pair_difference"] == 4 and math.isfinite(figures["final_loss"])

    pipe = DiffusionPipeline.from_pretrained(out, local_files_only=True, use_safetensors=True)
    assert type(pipe).__name__ == "AnimateDiffPipeline" and type(pipe.unet).__name__ == "UNetMotionModel"
    # The frame positions trained (--learn-positions) are the ones loaded: the 16 a clip uses moved
    # off AnimateDiff's sinusoids, the 16 beyond never had a gradient and kept them.
    from diffusers.models.embeddings import SinusoidalPositionalEmbedding

    tables = [m.pe for m in pipe.unet.modules() if isinstance(m, SinusoidalPositionalEmbedding)]
    assert len(tables) == 10
    for table in tables:
        sinusoids = SinusoidalPositionalEmbedding(table.shape[-1], table.shape[1]).pe
        assert not torch.allclose(table[:, :16], sinusoids[:, :16])
        assert torch.allclose(table[:, 16:], sinusoids[:, 16:], atol=1e-6)  # (the average of the weights rounds)
    pipe.set_progress_bar_config(disable=True)
    seen = []

    def on_step_end(pipeline, step, timestep, tensors):
        seen.append(tuple(tensors["latents"].shape))
        pipeline._interrupt = step >= 1  # what the engine does to cancel
        return tensors

    frames = pipe(
        "a red circle moving right on a blue background",
        num_frames=4,
        width=64,
        height=64,
        num_inference_steps=4,
        guidance_scale=2.0,
        generator=torch.Generator("cpu").manual_seed(0),
        callback_on_step_end=on_step_end,
        callback_on_step_end_tensor_inputs=["latents"],
    ).frames[0]
    assert len(frames) == 4 and frames[0].size == (64, 64)
    assert seen == [(1, 4, 4, 16, 16)] * 2  # interrupted after the second step


@pytest.mark.filterwarnings("ignore")
def test_a_short_latte_run_writes_a_latte_folder_that_reads_the_caption_as_the_pipeline_passes_it(tmp_path):
    import torch
    from diffusers import DiffusionPipeline

    from desktop.training.demo_video import train

    out = tmp_path / "latte"
    steps = ["--minutes", "1", "--max-steps", "2", "--batch", "2", "--layers", "1"]
    train.main(["--out", str(out), "--clips", "4", "--denoiser", "latte", *steps, "--no-evaluate"])
    index = json.loads((out / "model_index.json").read_text())
    assert index["_class_name"] == "LattePipeline" and index["transformer"] == ["diffusers", "LatteTransformer3DModel"]
    weights = sorted(p.parent.name for p in out.rglob("*.safetensors"))
    assert weights == ["text_encoder", "transformer", "vae"]
    figures = json.loads((out / "training.json").read_text())
    assert figures["denoiser"] == "latte, 1 blocks" and figures["steps"] == 2 and math.isfinite(figures["final_loss"])
    assert figures["init"].startswith("scratch")

    pipe = DiffusionPipeline.from_pretrained(out, local_files_only=True, use_safetensors=True)
    assert type(pipe).__name__ == "LattePipeline"
    # What training fed the transformer is what the pipeline feeds it: the caption's own tokens (the
    # pipeline cuts the padding of its 120 off; training masks it), and an empty caption as long.
    caption = "a red circle moving right on a blue background"
    ids, mask = train._ids(pipe.tokenizer, [caption, ""])
    with torch.no_grad():
        ours = train.caption_context(pipe.text_encoder, pipe.transformer, ids, mask)
        theirs, empty = pipe.encode_prompt(caption, negative_prompt="", device="cpu", clean_caption=False)
    words = int(mask[0].sum())
    assert theirs.shape[1] == empty.shape[1] == words
    assert torch.allclose(theirs[0], ours[0, :words], atol=1e-5)
    assert torch.allclose(empty[0], ours[1, :words], atol=1e-5)
    # Masked, a batch of captions of different lengths gives each clip what its caption alone gives.
    x, t = torch.randn(2, 4, 16, 16, 16), torch.tensor([900, 300])
    short, short_mask = train._ids(pipe.tokenizer, [caption, "a red circle"])
    with torch.no_grad():
        context = train.caption_context(pipe.text_encoder, pipe.transformer, short, short_mask)
        both = train.denoise(pipe.transformer, x, t, context, short_mask)
        alone = pipe.transformer(x[1:], t[1:], encoder_hidden_states=context[1:, :5], return_dict=False)[0]
    assert int(short_mask[1].sum()) == 5 and torch.allclose(both[1:], alone[:, :4], atol=1e-5)
    pipe.set_progress_bar_config(disable=True)
    frames = pipe(caption, video_length=16, width=64, height=64, num_inference_steps=2, guidance_scale=2.0).frames[0]
    assert len(frames) == 16 and frames[0].size == (64, 64)


def test_a_wan_transformer_trains_on_the_same_latents_and_is_measured_by_the_direction_gap(tmp_path):
    from diffusers import WanTransformer3DModel

    from desktop.training.demo_video import train

    out = tmp_path / "wan"
    steps = ["--minutes", "1", "--max-steps", "2", "--batch", "2", "--paired", "--shared-input"]
    train.main(["--out", str(out), "--clips", "4", "--denoiser", "wan", "--layers", "1", *steps])
    figures = json.loads((out / "training.json").read_text())
    assert figures["denoiser"] == "wan, 1 blocks" and figures["steps"] == 2
    assert isinstance(figures["direction_gap"], float) and math.isfinite(figures["final_loss"])
    transformer = WanTransformer3DModel.from_pretrained(out / "transformer")
    assert transformer.config.num_layers == 1 and not (out / "model_index.json").exists()  # not a pipeline yet


def test_transformers_refuse_the_unet_motion_model_options(capsys):
    from desktop.training.demo_video import train

    for denoiser in ("wan", "latte"):
        with pytest.raises(SystemExit):
            train.main(["--out", "unused", "--denoiser", denoiser, "--learn-positions"])
        assert "are UNetMotionModel options." in capsys.readouterr().err


def test_canonical_makes_right_down_and_growing_that_share_of_the_samples():
    import torch

    from desktop.training.demo_video import train
    from desktop.training.demo_video.clips import MOTIONS, REVERSED, Clip

    clips = [Clip("circle", "red", "blue", motion) for motion in MOTIONS]
    for canonical in (0.5, 0.8):
        chance = train.backwards_chance(clips, canonical)
        index = torch.randint(0, len(clips), (20000,), generator=torch.Generator().manual_seed(0))
        backwards = torch.rand(len(index), generator=torch.Generator().manual_seed(1)) < chance[index]
        played = [REVERSED[clips[i].motion] if b else clips[i].motion for i, b in zip(index, backwards, strict=True)]
        share = sum(m in train.CANONICAL for m in played) / len(played)
        assert abs(share - canonical) < 0.01, (canonical, share)


def test_a_frozen_text_encoder_is_saved_as_it_was_built(tmp_path):
    import torch
    from transformers import CLIPTextModel

    from desktop.training.demo_video import train

    out = tmp_path / "demo-video"
    steps = ["--minutes", "1", "--max-steps", "2", "--batch", "2", "--canonical", "0.75"]
    steps += ["--high-first", "1", "--first-from", "950"]
    train.main(["--out", str(out), "--clips", "6", *steps, "--freeze-text-encoder", "--no-evaluate"])
    figures = json.loads((out / "training.json").read_text())
    assert figures["freeze_text_encoder"] and figures["canonical"] == 0.75 and figures["steps"] == 2
    assert (figures["high_first"], figures["first_from"], figures["device"]) == (1, 950, "cpu")
    _, built = train.build_autoencoder_and_text_encoder(train.image_demo_folder(), train.build_tokenizer())
    saved = CLIPTextModel.from_pretrained(out / "text_encoder")
    for name, weight in built.state_dict().items():
        assert torch.equal(saved.state_dict()[name], weight), name


def test_canonical_is_a_share_and_needs_unpaired_batches(capsys):
    from desktop.training.demo_video import train

    for share in ("0", "1", "1.5"):
        with pytest.raises(SystemExit):
            train.main(["--out", "unused", "--canonical", share])
        assert f"between 0 and 1 (both left out): not {float(share)}." in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.main(["--out", "unused", "--canonical", "0.7", "--paired"])
    assert "--canonical needs unpaired batches." in capsys.readouterr().err


def test_noise_levels_put_that_share_high_and_the_rest_anywhere():
    import torch

    from desktop.training.demo_video.train import noise_levels

    generator = torch.Generator().manual_seed(0)
    first = noise_levels(4000, generator, 1.0, 900)  # --high-first's steps
    assert int(first.min()) == 900 and int(first.max()) == 999
    mix = noise_levels(20000, generator, 0.5, 600)  # the shipped mix: half high, half anywhere
    assert abs(float((mix >= 600).float().mean()) - (0.5 + 0.5 * 0.4)) < 0.015 and int(mix.min()) < 10


def test_the_learning_rate_warms_up_then_ends_at_a_tenth_whether_time_or_steps_run_out():
    from desktop.training.demo_video.train import learning_rate_factor

    assert [learning_rate_factor(step, 0.0) for step in (0, 50, 100, 500)] == [0.0, 0.5, 1.0, 1.0]
    assert learning_rate_factor(4000, 0.5) == pytest.approx(0.55)
    assert learning_rate_factor(4000, 1.0) == learning_rate_factor(4000, 1.7) == pytest.approx(0.1)


def test_a_device_this_machine_lacks_is_refused_before_anything_loads(capsys):
    import torch

    from desktop.training.demo_video import train

    for device in ["tpu"] + ([] if torch.cuda.is_available() else ["cuda"]):
        with pytest.raises(SystemExit):
            train.main(["--out", "unused", "--device", device])
        assert f"--device {device}: no such GPU here; leave --device out" in capsys.readouterr().err


def test_levels_out_of_range_are_refused_before_anything_loads(capsys):
    from desktop.training.demo_video import train

    for option in ("--high-from", "--first-from"):
        with pytest.raises(SystemExit):
            train.main(["--out", "unused", option, "1000"])
        assert "are noise levels from 0 to 999." in capsys.readouterr().err
