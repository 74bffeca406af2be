"""Value-based asynchronous agents of Mnih et al. 2016 (arXiv 1602.01783): one-step
Q-learning, one-step Sarsa and n-step Q-learning, with ε-greedy acting and a target
network."""
