"""Agents from config with a memory model as their core: what gets built and the errors
for configs that cannot work."""

import jax
import pytest

from configs import a3c as a3c_configs
from configs import actor_critic as configs
from core import config as config_lib
from envs import registry as env_registry
from experiments import agents


def _spec(config):
  return env_registry.make(config.env.name, **config.env.kwargs.to_dict()).spec


@pytest.mark.parametrize('name', ['sam', 'ntm'])
def test_memory_variant_builds_the_named_model_as_the_agents_core(name):
  config = configs.get_config(f'memory,{name}')
  agents.validate(config)
  spec = _spec(config)
  agent = agents.make_agent(spec, config.agent)
  params = agent.init(jax.random.PRNGKey(0), jax.numpy.zeros((1,) + spec.observation_shape))
  state = agent.initial_state(params, jax.random.PRNGKey(1), 3)
  # The memory's rows are in the agent's recurrent state: 16 rows of 8 per environment.
  memory = state.core.memory.memory
  assert memory.shape == (3, 16, 8)


def test_lstm_config_builds_no_memory():
  config = configs.get_config('memory')
  spec = _spec(config)
  agent = agents.make_agent(spec, config.agent)
  params = agent.init(jax.random.PRNGKey(0), jax.numpy.zeros((1,) + spec.observation_shape))
  state = agent.initial_state(params, jax.random.PRNGKey(1), 2)
  assert not hasattr(state.core, 'memory')


def test_errors_name_the_field():
  config = configs.get_config('memory,sdnc')
  config.agent.memory.k = 99
  with pytest.raises(config_lib.ConfigError, match=r'agent\.memory\.k: expected at most'):
    agents.validate(config)
  config = configs.get_config('memory')
  config.agent.core = 'sam'  # no memory block
  with pytest.raises(config_lib.ConfigError, match=r"no field 'memory'"):
    agents.validate(config)
  config = configs.get_config('memory')
  config.agent.core = 'tape'
  with pytest.raises(config_lib.ConfigError, match=r'agent\.core: expected one of'):
    agents.validate(config)


def test_agents_without_core_argument_refuse_memory_cores():
  config = a3c_configs.get_config('q1')
  config.agent.core = 'sam'
  with pytest.raises(config_lib.ConfigError, match=r'agent\.core: the q_learning agent takes'):
    agents.validate(config)
