"""Your own paired dataset in folders, with the official `custom` dataset defaults (NVlabs/SPADE `data/<dataset>_dataset.py`, `modify_commandline_options`):
resize to 286, random 256 crop, flip, label_nc 13, instance maps used.

    python train.py --config configs/spade/folder.py --workdir runs/mine \\
        --config.data.data_dir=/data/mine --config.data.label_nc=NUM_CLASSES \\
        [--config.data.no_instance=True] [--config.data.contain_dontcare_label=True]

Folders are found under `data.data_dir` (`train_label/` + `train_img/` [+ `train_inst/`], `labels/`
+ `images/`, ...; see `python -m spade_jax.data.inspect --format folder`), or named explicitly with
`data.label_dir`, `data.image_dir`, `data.instance_dir` (`{split}` stands for train / val). Label
PNGs hold class ids 0..label_nc-1 (255 = don't care); RGB colour labels need `data.label_format=rgb`
(and optionally `data.color_table`). Check a dataset first with `python -m spade_jax.data.inspect`.
"""

from spade_jax.configs.spade.default import get_config as _base


def get_config():
  c = _base()
  d = c.data
  d.name = "folder"
  d.data_dir = ""  # required: where the folders are
  d.label_dir, d.image_dir, d.instance_dir = "", "", ""
  d.label_format = "ids"  # ids | rgb
  d.color_table = ""
  d.label_nc = 13
  d.contain_dontcare_label = False
  d.no_instance = False  # official `custom` default; set True when there are no instance maps
  d.preprocess_mode = "resize_and_crop"
  d.load_size, d.crop_size, d.aspect_ratio = 286, 256, 1.0
  c.batch_size = 1  # official default (`--batchSize 1`); raise it with the device count
  return c
