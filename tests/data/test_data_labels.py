"""One-hot, don't-care and instance-edge channels on hand-made maps (NVlabs/SPADE `options/base_options.py`: label_nc / contain_dontcare_label / no_instance; NVlabs/SPADE `models/pix2pix_model.py`: `preprocess_input`; NVlabs/SPADE `models/pix2pix_model.py`: `get_edges`)."""

import jax.numpy as jnp
import numpy as np

from spade_jax.data import labels, transforms


def test_edges_mark_both_sides_of_a_4_neighbour_change():
  inst = np.array([[[1, 1, 2, 2],
                    [1, 1, 2, 2],
                    [3, 3, 3, 3]]])
  expected = np.array([[[0, 1, 1, 0],
                        [1, 1, 1, 1],
                        [1, 1, 1, 1]]], np.float32)
  np.testing.assert_array_equal(np.asarray(labels.instance_edges(jnp.asarray(inst))), expected)


def test_edges_ignore_diagonals_and_borders():
  inst = np.zeros((1, 5, 5), np.int32)
  assert not np.asarray(labels.instance_edges(jnp.asarray(inst))).any()  # border is not an edge
  inst[0, 2, 2] = 7  # a single pixel: its 4 neighbours and itself are edges, diagonals are not
  e = np.asarray(labels.instance_edges(jnp.asarray(inst)))[0]
  assert e.sum() == 5
  assert e[2, 2] and e[1, 2] and e[3, 2] and e[2, 1] and e[2, 3]
  assert not e[1, 1] and not e[3, 3]


def test_one_hot_with_dontcare_channel_and_edges():
  raw = np.array([[0, 1, 255], [2, 2, 255]], np.uint8)
  lab = transforms.map_dontcare(raw, label_nc=3)  # 255 -> label_nc
  np.testing.assert_array_equal(lab, [[0, 1, 3], [2, 2, 3]])
  inst = np.zeros((1, 2, 3), np.int32)
  sem = np.asarray(labels.to_semantics(jnp.asarray(lab[None]), jnp.asarray(inst), label_nc=3,
                                       contain_dontcare_label=True, no_instance=False))
  assert sem.shape == (1, 2, 3, labels.semantic_nc(3, True, False)) == (1, 2, 3, 5)
  np.testing.assert_array_equal(sem[0, ..., :4].argmax(-1), lab)
  np.testing.assert_array_equal(sem[0, ..., :4].sum(-1), 1.0)  # exactly one class per pixel
  assert sem[0, 0, 2, 3] == 1.0 and sem[0, 1, 2, 3] == 1.0  # don't-care has its own channel
  np.testing.assert_array_equal(sem[..., 4], 0.0)  # one instance: no edges


def test_one_hot_without_dontcare_or_instance():
  lab = np.array([[[0, 1], [1, 0]]])
  sem = np.asarray(labels.to_semantics(jnp.asarray(lab), None, label_nc=2,
                                       contain_dontcare_label=False, no_instance=True))
  assert sem.shape == (1, 2, 2, 2)
  np.testing.assert_array_equal(sem[..., 1], lab)
