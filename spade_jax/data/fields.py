"""Optional `config.data` fields the data layer reads (beyond a family's defaults), for config
validation: `(name, meaning)`."""

OPTIONAL_FIELDS = (
    ("cache_dir", "where prepared datasets are cached (default $SPADE_JAX_CACHE or ~/.cache/spade_jax)"),
    ("num_threads", "grain reader threads (default: the cores)"),
    ("num_workers", "grain worker processes (default 0: threads in this process)"),
    ("prefetch", "batches buffered ahead (default 4)"),
    ("prepare_workers", "processes that prepare a dataset's records"),
    ("image_interpolation", "photo resize: bicubic | bilinear | nearest"),
    ("label_dir", "folder format: the label folder ({split} = train / val)"),
    ("image_dir", "folder format: the photo folder"),
    ("instance_dir", "folder format: the instance folder"),
    ("label_format", "folder format: ids | rgb"),
    ("color_table", "folder format: colour table of rgb labels"),
    ("coco_no_portraits", "COCO-Stuff: skip portrait images"),
    ("synthetic_train_size", "synthetic: training images"),
    ("synthetic_val_size", "synthetic: val images"),
    ("synthetic_resolution", "synthetic: rendered size"),
    ("synthetic_seed", "synthetic: renderer seed"),
    ("fake_nan_at_step", "fake data (tests): NaN photos at this batch"),
)
NAMES = ("fake",)  # data sources besides the dataset formats of `layouts.FORMATS` (tests, benchmarks)
