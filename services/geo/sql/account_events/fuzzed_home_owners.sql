SELECT n.owner_id
  FROM geo.nodes n
  JOIN geo.accounts a ON a.id = n.owner_id
 WHERE n.kind = 'home'
   AND a.fuzz_radius_m > 0
