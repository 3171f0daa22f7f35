"""Tiny random-weight Shap-E pipelines (text and image) built on this machine, saved like real models.

Two things make a random Shap-E usable in tests:

- A fresh ShapERenderer's marching-cubes table is all zeros (the released checkpoint ships its own),
  so every mesh would come out empty: `marching_cubes_table()` builds one for the renderer's own
  corner and edge numbering.
- Random renderer weights make a noise surface with millions of triangles. The renderer here is
  "tamed": its MLP runs in its linear range (a +10 offset keeps SiLU close to the identity) and its
  signed distance is cos(2x) + cos(2y) + cos(2z) - 2, a closed blob about 0.8 across, coloured by
  position. The latent still matters: it nudges the low-frequency weights, so each seed gives a
  slightly different blob, as a seed should.
"""

from __future__ import annotations

from pathlib import Path

from tiny_models import _tokenizer

# Sizes: the prior's latent is NUM_EMBEDDINGS x LATENT_DIM; the renderer's MLP is HIDDEN wide, and
# its first four layers' weights are projected from LATENT_VECTORS rows of the latent each.
LATENT_DIM = 16
HIDDEN = 8
LATENT_VECTORS = HIDDEN
NUM_EMBEDDINGS = 4 * LATENT_VECTORS
POSITION_FEATURES = 93  # 3 coordinates + sin and cos at 15 octaves (diffusers' encode_position)
OFFSET = 10.0  # keeps every hidden unit positive, where SiLU(x) is x to within 0.05%

# The cube's corners are numbered x + 2y + 4z (the renderer's bit masks); its twelve edges in the
# order diffusers' _create_flat_edge_indices gives them: four along x, four along y, four along z.
_EDGES = ((0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7), (0, 4), (1, 5), (2, 6), (3, 7))
_FACES = ((0, 2, 6, 4), (1, 3, 7, 5), (0, 1, 5, 4), (2, 3, 7, 6), (0, 1, 3, 2), (4, 5, 7, 6))


def marching_cubes_table():
    """(cases[256, 5, 3] edge indices, masks[256, 5]): the triangles for each inside/outside pattern.

    Built, not typed in: the crossing edges of each face are paired (an ambiguous face keeps its
    inside corners apart), the pairs chain into loops, each loop becomes a fan of triangles wound
    so that their normals point outwards. No pattern needs more than five triangles.
    """
    import numpy as np

    corners = np.array([(c & 1, (c >> 1) & 1, (c >> 2) & 1) for c in range(8)], dtype=float)
    midpoints = np.array([(corners[a] + corners[b]) / 2 for a, b in _EDGES])
    edge_of = {frozenset(edge): i for i, edge in enumerate(_EDGES)}
    cases = np.zeros((256, 5, 3), dtype=np.int64)
    masks = np.zeros((256, 5), dtype=bool)
    for case in range(256):
        inside = [(case >> c) & 1 for c in range(8)]
        links: dict[int, list[int]] = {}
        for face in _FACES:
            ring = [edge_of[frozenset((face[i], face[(i + 1) % 4]))] for i in range(4)]
            crossing = [e for e in ring if inside[_EDGES[e][0]] != inside[_EDGES[e][1]]]
            if len(crossing) == 2:
                pairs = [crossing]
            elif len(crossing) == 4:
                first = ((ring[3], ring[0]), (ring[1], ring[2]))
                pairs = first if inside[face[0]] else ((ring[0], ring[1]), (ring[2], ring[3]))
            else:
                pairs = []
            for a, b in pairs:
                links.setdefault(a, []).append(b)
                links.setdefault(b, []).append(a)
        triangles, seen = [], set()
        for start in links:
            if start in seen:
                continue
            loop, previous, current = [start], None, start
            seen.add(start)
            while True:
                following = next(n for n in links[current] if n != previous and (n not in seen or n == start))
                if following == start:
                    break
                loop.append(following)
                seen.add(following)
                previous, current = current, following
            points = midpoints[loop]
            normal = sum(np.cross(points[i], points[(i + 1) % len(points)]) for i in range(len(points)))
            ends = [_EDGES[e] if inside[_EDGES[e][0]] else _EDGES[e][::-1] for e in loop]  # (inside, outside)
            outwards = corners[[o for _, o in ends]].mean(0) - corners[[i for i, _ in ends]].mean(0)
            if np.dot(normal, outwards) < 0:
                loop.reverse()
            triangles += [(loop[0], loop[i], loop[i + 1]) for i in range(1, len(loop) - 1)]
        for i, triangle in enumerate(triangles):
            cases[case, i] = triangle
            masks[case, i] = True
    return cases, masks


def _renderer():
    import torch
    from diffusers.pipelines.shap_e.renderer import ShapERenderer

    renderer = ShapERenderer(
        param_shapes=((HIDDEN, POSITION_FEATURES), (HIDDEN, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, HIDDEN)),
        d_latent=LATENT_DIM,
        d_hidden=HIDDEN,
        n_output=12,
        background=(255.0, 255.0, 255.0),
    )
    cases, masks = marching_cubes_table()
    with torch.no_grad():
        renderer.mesh_decoder.cases.copy_(torch.from_numpy(cases))
        renderer.mesh_decoder.masks.copy_(torch.from_numpy(masks))
        # Layers 0-3 get their weights from the latent: a designed base (the projection's bias)
        # plus a small latent-dependent part, only on the smooth position features (the layer
        # norm's scale is zero on every high-frequency column).
        base0 = torch.zeros(HIDDEN, POSITION_FEATURES)
        cos_2 = [3 + 45 + 3 + d for d in range(3)]  # cos(2x), cos(2y), cos(2z)
        base0[0, cos_2] = 1.0  # unit 0: the shape
        for d in range(3):
            base0[1 + d, 3 + d] = 2.0  # units 1-3: sin(x), sin(y), sin(z) for the colours
        wobble0 = torch.zeros(POSITION_FEATURES)
        wobble0[:3] = 0.08  # the raw coordinates: the blob shifts and stretches a little per seed
        wobble0[cos_2] = 0.05
        identity = torch.eye(HIDDEN)
        for name, base, wobble in (
            ("nerstf__mlp__0__weight", base0, wobble0),
            ("nerstf__mlp__1__weight", identity, torch.zeros(HIDDEN)),
            ("nerstf__mlp__2__weight", identity, torch.zeros(HIDDEN)),
            ("nerstf__mlp__3__weight", identity, torch.zeros(HIDDEN)),
        ):
            projection = renderer.params_proj.projections[name]
            projection.proj.bias.copy_(base.reshape(-1))
            projection.norm.weight.copy_(wobble)
            projection.norm.bias.zero_()
        mlp = renderer.mlp.mlp
        for layer in mlp:
            layer.bias.zero_()
        mlp[0].bias.fill_(OFFSET)
        for layer in (mlp[4], mlp[5]):  # layer 4 also takes the (zero) direction features
            layer.weight.zero_()
            layer.weight[:, :HIDDEN] = identity
        # Outputs: sdf (0), densities (1, 2), then three RGB heads (stf 3-5, nerf coarse 6-8, fine 9-11).
        last = mlp[6]
        last.weight.zero_()
        last.weight[0, 0] = 1.0
        last.bias[0] = -OFFSET - 2.0
        for density in (1, 2):  # opaque inside the blob, empty outside
            last.weight[density, 0] = 40.0
            last.bias[density] = 40.0 * (-OFFSET - 2.0)
        for head in (3, 6, 9):
            for d in range(3):
                last.weight[head + d, 1 + d] = 1.0
                last.bias[head + d] = -OFFSET
    return renderer


def _scheduler():
    from diffusers import HeunDiscreteScheduler

    # Shap-E's own scheduler configuration.
    return HeunDiscreteScheduler(
        beta_schedule="exp",
        num_train_timesteps=1024,
        prediction_type="sample",
        use_karras_sigmas=True,
        clip_sample=True,
        clip_sample_range=1.0,
    )


def _prior(condition_dim: int, image: bool):
    from diffusers import PriorTransformer

    return PriorTransformer(
        num_attention_heads=2,
        attention_head_dim=8,
        embedding_dim=LATENT_DIM,
        num_embeddings=NUM_EMBEDDINGS,
        embedding_proj_dim=condition_dim,
        time_embed_dim=64,
        num_layers=1,
        clip_embed_dim=2 * LATENT_DIM,
        additional_embeddings=0,
        time_embed_act_fn="gelu",
        norm_in_type="layer",
        embedding_proj_norm_type="layer" if image else None,
        encoder_hid_proj_type=None,
        added_emb_type=None,
    )


def build_text_to_3d(folder: Path) -> Path:
    """A ShapEPipeline in miniature: 3 steps, 16-px frames and 4 views make an object in about 0.5 s
    (one torch thread on this 2-core CPU)."""
    import torch
    from diffusers import ShapEPipeline
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    torch.manual_seed(0)
    text_encoder = CLIPTextModelWithProjection(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=16,
            projection_dim=16,
            intermediate_size=24,
            num_attention_heads=2,
            num_hidden_layers=2,
            vocab_size=1000,
            max_position_embeddings=77,
        )
    )
    pipe = ShapEPipeline(
        prior=_prior(16, image=False),
        text_encoder=text_encoder,
        tokenizer=_tokenizer(),
        scheduler=_scheduler(),
        shap_e_renderer=_renderer(),
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return Path(folder)


def build_image_to_3d(folder: Path) -> Path:
    """A ShapEImg2ImgPipeline in miniature, with a locally built CLIP image processor (16-px crops)."""
    import torch
    from diffusers import ShapEImg2ImgPipeline
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(0)
    image_encoder = CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=16,
            image_size=16,
            patch_size=4,
            projection_dim=16,
            intermediate_size=24,
            num_attention_heads=2,
            num_channels=3,
            num_hidden_layers=2,
        )
    )
    image_processor = CLIPImageProcessor(
        crop_size={"height": 16, "width": 16},
        size={"shortest_edge": 16},
        do_center_crop=True,
        do_normalize=True,
        do_resize=True,
        image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711],
        resample=3,
    )
    pipe = ShapEImg2ImgPipeline(
        prior=_prior(16, image=True),
        image_encoder=image_encoder,
        image_processor=image_processor,
        scheduler=_scheduler(),
        shap_e_renderer=_renderer(),
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return Path(folder)
