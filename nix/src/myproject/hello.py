"""Entry point of the example ML project: reports whether PyTorch sees a CUDA device."""
import torch


def greet() -> None:
    print(f"Hello, World! Cuda available: {torch.cuda.is_available()}")


if __name__ == "__main__":
    greet()
