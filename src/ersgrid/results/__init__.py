"""The results folder, written by the faces (command line, service, sweeps' callers).

``ersgrid.run`` returns a result and writes nothing; :func:`write_results` writes its folder
(replaced as a whole: an interrupted write never leaves a folder that looks complete, and
never loses the previous results), :func:`write_comparison` a comparison's, and
:func:`export_folder` CSV and Excel copies of either.
"""

from ersgrid.jsonsafe import json_safe
from ersgrid.results.end_state import END_STATE_FILE, read_end_state, write_end_state
from ersgrid.results.export import EXPORT_FORMATS, export_folder, parse_formats
from ersgrid.results.folder import clean_stale, replacing
from ersgrid.results.writer import COMPARE_FILES, RESULT_FILES, write_comparison, write_results

__all__ = [
    "COMPARE_FILES",
    "END_STATE_FILE",
    "EXPORT_FORMATS",
    "RESULT_FILES",
    "clean_stale",
    "export_folder",
    "json_safe",
    "parse_formats",
    "read_end_state",
    "replacing",
    "write_comparison",
    "write_end_state",
    "write_results",
]
