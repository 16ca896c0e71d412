"""Keras's CSVLogger, opening its file only when the first epoch has a row to write.

Keras opens (and, without append, empties) the file when training begins, so a run that
fails in its first epoch (a corrupt PNG, Ctrl-C) leaves an empty log and has erased the last one.
"""
import keras


class CSVLogger(keras.callbacks.CSVLogger):
    """Epoch rows as Keras writes them (one flushed line per epoch); no file until epoch 1 ends."""

    def on_train_begin(self, logs=None):
        self.csv_file = None
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        if self.csv_file is None:
            super().on_train_begin()
        super().on_epoch_end(epoch, logs)
