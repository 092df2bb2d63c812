"""Image and dataset input: safe image reading, manifests, loaders for common formats, group-wise splits."""

from .image import as_rgb_uint8, read_image, read_image_size, resize_square
from .loaders import (load_cp_child, load_csv, load_dataset, load_dsoc, load_edd2020, load_folder,
                      load_kvasir_seg, load_voc_txt, load_yolo_txt, video_clips)
from .manifest import Manifest, Problem, ValidationReport
from .roots import data_root
from .sources import Capture, Frame, is_single_image, iter_frames
from .splits import (assert_disjoint_groups, centre_split, edd2020_centre_split, group_kfold,
                     group_kfold_indices, split_by_column, train_val_test_split)

__all__ = [
    "read_image", "read_image_size", "resize_square", "as_rgb_uint8", "data_root", "Manifest", "Problem", "ValidationReport",
    "load_dataset", "load_edd2020", "load_kvasir_seg", "load_dsoc", "load_cp_child", "load_folder",
    "load_csv", "load_voc_txt", "load_yolo_txt", "video_clips",
    "Capture", "Frame", "iter_frames", "is_single_image",
    "train_val_test_split", "group_kfold", "group_kfold_indices", "centre_split", "edd2020_centre_split", "assert_disjoint_groups",
    "split_by_column",
]
