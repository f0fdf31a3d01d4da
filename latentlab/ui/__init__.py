"""The PySide6 app. The only package that imports Qt or pyqtgraph."""

import pyqtgraph as _pg

# Images are (rows, columns[, channels]) numpy arrays everywhere in latentlab.
_pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
