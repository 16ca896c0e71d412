"""NVIDIA DALI pipeline feeding the same (image, mask) batches as the TF generator.

Samples are chosen by the shared EpochSampler (so, without augmentation, batches equal the TF
generator's for the same seed, the smaller last validation batch included) and their encoded PNG bytes are read by a tf.data input dataset;
DALI decodes (on GPU with the `mixed` decoder when there is one), normalises, augments and
one-hots them. The result is a `tf.data.Dataset` through DALI's TF plugin, one pipeline per
replica with its own shard.
Without a GPU the same pipeline runs on DALI's CPU backend, which is what CI exercises.
"""
import numpy as np
import tensorflow as tf

from data_generators.sampling import EpochSampler
from utils.errors import UserError, hint_for_library_error
from volumes.slices import ImageSettings

DALI_INSTALL_HINT = ("pip install --no-build-isolation -r requirements-dali.txt "
                     "(NVIDIA DALI and its TensorFlow plugin, Linux x86-64 only)")


hint_for_library_error("nvidia.dali.fn.decoders.image",
                       "DALI could not decode a PNG of the prepared data (corrupt or truncated file); "
                       "python data_preparation/verify_data.py names it")


def dali_import_error():
    """None when DALI and its TF plugin import, else the reason why not."""
    try:
        import nvidia.dali  # noqa: F401
        import nvidia.dali.plugin.tf  # noqa: F401
    except Exception as err:  # ImportError, or the plugin failing to load its .so
        return f"{type(err).__name__}: {err}"
    return None


def require_dali():
    reason = dali_import_error()
    if reason:
        raise UserError(f"DATA_GENERATOR_TYPE=DALI_GENERATOR needs NVIDIA DALI, which is not usable here "
                        f"({reason.splitlines()[0]}). Install it with: {DALI_INSTALL_HINT}, "
                        f"or use DATA_GENERATOR_TYPE=TF_GENERATOR")


def encoded_files_dataset(paths, sampler: EpochSampler, part: int = None) -> tf.data.Dataset:
    """Infinite tf.data.Dataset of the raw bytes of paths[i], i following the sampler epoch after epoch.

    part 0 or 1 keeps only the items of each epoch's full batches or of its last partial batch
    (`EpochSampler.epoch_parts`), for the two pipelines of a validation with a partial last batch.

    Files are read by tf.data in parallel; only the epoch order comes from a (stateless) numpy call,
    once per epoch. A per-sample Python `source` callback would instead be wrapped by the DALI
    plugin in `from_generator`, one GIL-bound call per file. A new iterator starts at
    `sampler.first_epoch` (Keras makes one per `fit`, after its callbacks set where a resumed run starts).
    """
    paths = tf.constant(list(paths))

    def epoch_order(epoch):
        epoch = sampler.first_epoch + int(epoch)
        order = sampler.epoch_order(epoch) if part is None else sampler.epoch_parts(epoch)[part]
        return order.astype(np.int64)

    def epoch_items(epoch):
        order = tf.numpy_function(epoch_order, [epoch], tf.int64, stateful=False)
        return tf.data.Dataset.from_tensor_slices(tf.reshape(order, [-1]))

    items = tf.data.Dataset.range(np.iinfo(np.int64).max).flat_map(epoch_items)
    return items.map(lambda item: tf.io.decode_raw(tf.io.read_file(tf.gather(paths, item)), tf.uint8),
                     num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def _build_pipeline(batch_size, *, classes, inputs: ImageSettings, augment_data, seed, device_id, num_threads):
    from nvidia.dali import fn, pipeline_def, types
    from nvidia.dali import math as dali_math

    on_gpu = device_id is not None
    decoder_device = "mixed" if on_gpu else "cpu"

    @pipeline_def(batch_size=batch_size, num_threads=num_threads, device_id=device_id, seed=seed,
                  prefetch_queue_depth=2)
    def pipeline():
        encoded_images = fn.external_source(name="encoded_images", dtype=types.UINT8)
        encoded_masks = fn.external_source(name="encoded_masks", dtype=types.UINT8)
        image_type = types.GRAY if inputs.channels == 1 else types.RGB
        images = fn.decoders.image(encoded_images, device=decoder_device, output_type=image_type)
        masks = fn.decoders.image(encoded_masks, device=decoder_device, output_type=types.GRAY)
        if inputs.size:   # data=images: pictures of any size; images antialiased (area-like), masks nearest
            height, width = inputs.size
            images = fn.resize(images, resize_x=width, resize_y=height, interp_type=types.INTERP_LINEAR,
                               antialias=True)
            masks = fn.resize(masks, resize_x=width, resize_y=height, interp_type=types.INTERP_NN)
        images = fn.cast(images, dtype=types.FLOAT)
        if inputs.normalize:
            images = images / 255.0
        if augment_data:
            horizontal = fn.random.coin_flip(probability=0.5)
            vertical = fn.random.coin_flip(probability=0.5)
            images = fn.flip(images, horizontal=horizontal, vertical=vertical)
            masks = fn.flip(masks, horizontal=horizontal, vertical=vertical)
            images = images * fn.random.uniform(range=(0.9, 1.1))
        labels = fn.cast(fn.squeeze(masks, axes=[2]), dtype=types.INT32)
        labels = dali_math.min(labels, classes - 1)   # data_sets.labels.network_labels in DALI; binary 255 -> 1
        one_hot = fn.one_hot(labels, num_classes=classes, axis=-1, dtype=types.FLOAT)
        return images, one_hot

    return pipeline()


def _pipeline_dataset(image_paths, mask_paths, sampler, batch_size, image_size, part, *, classes, inputs,
                      device_id, **pipeline_options):
    """One DALI pipeline of batch_size as a tf.data.Dataset, reading the sampler's items (or one `part` of them)."""
    import nvidia.dali.plugin.tf as dali_tf

    pipeline = _build_pipeline(batch_size, classes=classes, inputs=inputs, device_id=device_id, **pipeline_options)
    device = "/cpu:0" if device_id is None else f"/gpu:{device_id}"
    encoded = {}
    for name, paths in (("encoded_images", image_paths), ("encoded_masks", mask_paths)):
        with tf.device("/cpu:0"):
            files = encoded_files_dataset(paths, sampler, part)
        if device_id is not None:  # inputs must sit where the DALI dataset sits
            files = files.apply(tf.data.experimental.copy_to_device(device))
        encoded[name] = dali_tf.experimental.Input(files, batch=False)
    with tf.device(device):
        return dali_tf.experimental.DALIDatasetWithInputs(
            pipeline=pipeline, batch_size=batch_size, device_id=device_id, input_datasets=encoded,
            output_shapes=((batch_size, *image_size, inputs.channels), (batch_size, *image_size, classes)),
            output_dtypes=(tf.float32, tf.float32))


def dali_dataset(image_paths, mask_paths, batch_size, classes, inputs: ImageSettings, image_size, *, label_count=None,
                 shuffle=False, augment_data=False, seed=0, shard_id=0, num_shards=1,
                 last_batch="pad", steps=None, device_id=None, num_threads=2, binary_masks=False):
    """An infinite tf.data.Dataset of (images, one-hot masks) for one shard, and its EpochSampler.

    device_id=None runs DALI's CPU backend; an int runs on that GPU (decode on the GPU too).
    Labels above classes-1 are merged into it, as the TF generator does; DALI cannot name a file
    from inside its pipeline, so masks holding values >= label_count are not refused here.
    image_size (height, width) makes the batch shape static, which graph mode and XLA need.
    inputs (volumes.slices.image_settings): channels, normalisation, and with inputs.size (data=images)
    decode any JPEG/PNG/BMP/TIFF and resize it to (height, width) in the
    pipeline. The masks of a 2D kind were checked before training (data_sets.images.check_pairs:
    values within the classes, 0/1/255 when binary_masks, where min(label, 1) reads 255 as 1).
    last_batch (data_generators.sampling.LAST_BATCH_POLICIES): "pad" and "drop" give batches of one
    shape; "partial" (validation) runs a second pipeline of the last batch's size and takes its one
    batch after the full ones of each epoch, since a DALI pipeline's batches have one size and padding
    them would score slices twice.
    """
    require_dali()
    sampler = EpochSampler(len(image_paths), batch_size, shuffle, seed, shard_id, num_shards, last_batch, steps)
    options = dict(classes=classes, inputs=inputs, augment_data=augment_data, seed=seed, device_id=device_id,
                   num_threads=num_threads)
    full, rest = sampler.epoch_parts(0)
    if last_batch != "partial" or not len(rest):
        return _pipeline_dataset(image_paths, mask_paths, sampler, batch_size, image_size, None, **options), sampler
    full_steps = len(full) // batch_size
    last = _pipeline_dataset(image_paths, mask_paths, sampler, len(rest), image_size, 1, **options)
    if not full_steps:
        return last, sampler
    batches = _pipeline_dataset(image_paths, mask_paths, sampler, batch_size, image_size, 0, **options)
    # on the pipelines' device, as DALI's GPU-placed datasets want what follows them (unverified on a GPU here)
    with tf.device("/cpu:0" if device_id is None else f"/gpu:{device_id}"):
        choice = tf.data.Dataset.from_tensor_slices(tf.constant([0] * full_steps + [1], tf.int64)).repeat()
        return tf.data.Dataset.choose_from_datasets([batches, last], choice), sampler


def gpu_device_ids():
    return list(range(len(tf.config.list_physical_devices("GPU"))))
