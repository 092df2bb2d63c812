"""Evaluation: detection / localization metrics (``detection``); classification and statistics live beside it."""

from .detection import (area_precision, area_recall, average_precision, centroid_distance, confusion_matrices,
                        detection_confusion_matrix, iou, localization_table, map50, map50_95,
                        mean_average_precision, mean_iou, plot_success, success_curve, success_rate)

__all__ = [
    "iou", "area_precision", "area_recall", "centroid_distance", "localization_table", "mean_iou",
    "success_rate", "success_curve", "plot_success", "average_precision", "mean_average_precision",
    "map50", "map50_95", "detection_confusion_matrix", "confusion_matrices",
]
