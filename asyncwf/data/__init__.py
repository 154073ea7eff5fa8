"""Data: datafiles, datasets and manifests, local or in Google Cloud Storage (the Octue SDK's API, async).

Everything that touches storage is a coroutine; objects whose stored metadata
must be read are loaded by awaiting them::

    from asyncwf.data import Dataset

    dataset = await Dataset("gs://my-bucket/measurements", recursive=True)
    raw = dataset.files.filter(labels__contains="raw", tags__site__equals="north")
    await dataset.download("local/measurements")

``asyncwf.blocking`` has the same classes for synchronous code.
"""

from asyncwf.data._datafile import Datafile
from asyncwf.data._dataset import Dataset
from asyncwf.data._filters import Filterable, FilterDict, FilterList, FilterSet
from asyncwf.data._gcs import close_cloud_storage
from asyncwf.data._hashing import hash_file
from asyncwf.data._labels import Label, LabelSet, TagDict
from asyncwf.data._manifest import Manifest

__all__ = [
    "Datafile",
    "Dataset",
    "FilterDict",
    "FilterList",
    "FilterSet",
    "Filterable",
    "Label",
    "LabelSet",
    "Manifest",
    "TagDict",
    "close_cloud_storage",
    "hash_file",
]
