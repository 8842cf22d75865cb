# Host-side settings but neither `configuration` nor `system`: refused.
{
  network.ip = "10.101.0.50";
}
