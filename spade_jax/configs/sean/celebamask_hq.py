"""SEAN on CelebAMask-HQ, the official training setting (ZPdesu/SEAN README): the `custom` dataset with
`--label_nc 19 --no_instance`, resized to 286 and randomly cropped to 256 (flipped), batch 32 on 4 GPUs
officially ("single GPU with small memory: --batchSize 2"; the default here).

    python train.py --config configs/sean/celebamask_hq.py --workdir runs/celeba \\
        --config.data.data_dir=datasets/CelebA-HQ [--config.batch_size=32] \\
        --config.train.vgg_weights=vgg19-dcbb9e9d.pth

The folders are the official layout, found under `data.data_dir`: `train/images/<id>.jpg` +
`train/labels/<id>.png` (one grey class id 0..18 per pixel: background, skin, nose, eye_g, l_eye, r_eye,
l_brow, r_brow, l_ear, r_ear, mouth, u_lip, l_lip, hair, hat, ear_r, neck_l, neck, cloth) and `test/...`
(used as the val split). The VGG loss needs torchvision's VGG19 weights (a user file).
"""

from spade_jax.configs.sean.default import get_config as _base

CLASSES = ("background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear",
           "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth")


def get_config():
  c = _base()
  d = c.data
  d.name = "folder"
  d.data_dir = ""  # required: the CelebA-HQ folder (train/ and test/ with images/ and labels/)
  d.label_dir, d.image_dir, d.instance_dir = "", "", ""
  d.label_format = "ids"
  d.label_nc = 19
  d.contain_dontcare_label = False
  d.no_instance = True
  d.preprocess_mode = "resize_and_crop"
  d.load_size, d.crop_size, d.aspect_ratio = 286, 256, 1.0
  c.batch_size = 2
  c.eval.class_names = ",".join(CLASSES)
  return c
