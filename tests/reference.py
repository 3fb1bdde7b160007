"""Input shapes for the parity tests and the matching ``torch.nn.BatchNorm*d`` reference."""
import torch

# Ranks 2-5, and the torch class with the same semantics for each rank.
SHAPES = [(6, 3), (4, 3, 5), (3, 3, 4, 2), (2, 3, 2, 3, 2)]
TORCH_BN = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d, 5: torch.nn.BatchNorm3d}


def torch_reference(shape, **options):
    """A float64 ``torch.nn.BatchNorm*d`` for inputs of ``shape``."""
    return TORCH_BN[len(shape)](shape[1], **options).double()
